import { describe, expect, it } from 'vitest'
import { isOlmError } from '../../../src/errors.js'
import { parseHeadEapi, splitRevision } from '../../../src/metadata/eapi.js'
import { parseVersion } from '../../../src/pms/version.js'

describe('parseHeadEapi (pms.md §6.1)', () => {
  it.each([
    ['EAPI=8\n', '8'],
    ['# Copyright\n\n  # more\nEAPI="7"\ninherit foo\n', '7'],
    ["EAPI='9'  # comment\n", '9'],
    ['\tEAPI=8\t\n', '8'],
    ['EAPI=5-progress\n', '5-progress'],
    ['inherit foo\nEAPI=8\n', '0'],
    ['EAPI="8\n', '0'],
    ['EAPI=8 # no tab or space before the hash is fine\n', '8'],
    ['EAPI=8#glued\n', '0'],
    ['', '0'],
    ['# only comments\n', '0'],
    ['EAPI=8\r\n', '8'],
  ])('%j → %s', (text, eapi) => {
    expect(parseHeadEapi(text)).toBe(eapi)
  })

  it.each([
    ['EAPI=\n', 1, 6],
    ['# head\n\n  EAPI=""\n', 3, 8],
  ])('refuses an explicit empty EAPI in %j at line %i column %i', (text, line, column) => {
    let err: unknown
    try {
      parseHeadEapi(text, 'cat/p/p-1.ebuild')
    } catch (e) {
      err = e
    }
    expect(isOlmError(err, 'METADATA_INVALID')).toBe(true)
    expect((err as { context: object }).context).toEqual({ file: 'cat/p/p-1.ebuild', line, column })
  })
})

describe('splitRevision', () => {
  it.each([
    ['1.0', '1.0', 'r0'],
    ['1.0-r3', '1.0', 'r3'],
    ['2_rc1-r01', '2_rc1', 'r01'],
  ])('%s → PV %s PR %s', (v, pv, pr) => {
    expect(splitRevision(parseVersion(v))).toEqual({ pv, pr })
  })
})
