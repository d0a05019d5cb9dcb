import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import {
  compareVersions,
  isValidVersion,
  parseVersion,
  tryParseVersion,
  versionWithoutRevision,
} from '../../../src/pms/version.js'

const cmp = (a: string, b: string) => Math.sign(compareVersions(parseVersion(a), parseVersion(b)))

/** pms.md §3.3, verified against portage vercmp. */
const PAIRS: [string, '<' | '=' | '>', string][] = [
  ['1.0', '<', '1.0.0'],
  ['1.0', '=', '1.00'],
  ['1.01', '<', '1.1'],
  ['1.010', '=', '1.01'],
  ['1.2', '>', '1.02'],
  ['010', '=', '10'],
  ['1.9999', '<', '1.10000'],
  ['1.0a', '>', '1.0'],
  ['1.0a', '<', '1.0.1'],
  ['12.2.5', '>', '12.2b'],
  ['1.0b', '>', '1.0a_p3'],
  ['1.0_alpha', '<', '1.0_beta'],
  ['1.0_beta', '<', '1.0_pre'],
  ['1.0_pre', '<', '1.0_rc'],
  ['1.0_rc', '<', '1.0'],
  ['1.0', '<', '1.0_p'],
  ['1.0_p', '=', '1.0_p0'],
  ['1.0_rc1', '<', '1.0_rc10'],
  ['1.0_rc2_p1', '>', '1.0_rc2'],
  ['1.0_rc2_alpha', '<', '1.0_rc2'],
  ['1.0_alpha_beta', '<', '1.0_alpha'],
  ['0_pre20240208', '<', '0'],
  ['1.0', '=', '1.0-r0'],
  ['1.0-r01', '=', '1.0-r1'],
  ['1.0_p1-r2', '<', '1.0_p2'],
  // beyond the table: more steps and edge cases of §3.2
  ['1.0-r1', '<', '1.0-r2'],
  ['1.0-r9', '<', '1.0-r10'],
  ['1.0_p1', '<', '1.0_p1-r1'],
  ['2', '>', '1.99999'],
  ['1.0.0', '=', '1.0.00'],
  ['1.0.01', '<', '1.0.1'],
  ['1.0z', '>', '1.0b'],
  ['1.0_rc_p', '>', '1.0_rc'],
  ['1.0_beta2', '>', '1.0_alpha9'],
  ['1.0_p', '>', '1.0_rc99'],
  ['0001', '=', '1'],
  ['1.1', '>', '1.0.9'],
  // beyond 2^53: string/bigint arithmetic, not Number
  ['9007199254740993', '>', '9007199254740992'],
  ['1.9007199254740993', '>', '1.9007199254740992'],
  ['1.0_p9007199254740993', '>', '1.0_p9007199254740992'],
  ['1.0-r9007199254740993', '>', '1.0-r9007199254740992'],
  ['123456789012345678901234567890', '<', '123456789012345678901234567891'],
  ['99999999999999999999', '<', '100000000000000000000'],
]

describe('compareVersions', () => {
  it.each(PAIRS)('%s %s %s', (a, rel, b) => {
    const expected = rel === '<' ? -1 : rel === '>' ? 1 : 0
    expect(cmp(a, b)).toBe(expected)
    expect(cmp(b, a)).toBe(0 - expected)
    expect(cmp(a, a)).toBe(0)
    expect(cmp(b, b)).toBe(0)
  })

  it('sorts a shuffled list into PMS order', () => {
    const ordered = ['0_pre20240208', '0', '1.0_alpha', '1.0_beta', '1.0_rc1', '1.0', '1.0-r1', '1.0_p1', '1.0a', '1.0.0', '1.01', '1.1', '2', '9999']
    const shuffled = [...ordered].reverse()
    shuffled.sort((a, b) => cmp(a, b))
    expect(shuffled).toEqual(ordered)
  })
})

describe('parseVersion', () => {
  it.each([
    ['1', { numbers: ['1'], letter: '', suffixes: [], revision: '' }],
    ['1.0_rc2-r3', { numbers: ['1', '0'], letter: '', suffixes: [{ type: 'rc', num: '2' }], revision: '3' }],
    ['1.0a_p1_beta2-r07', { numbers: ['1', '0'], letter: 'a', suffixes: [{ type: 'p', num: '1' }, { type: 'beta', num: '2' }], revision: '07' }],
    ['0_pre20240208', { numbers: ['0'], letter: '', suffixes: [{ type: 'pre', num: '20240208' }], revision: '' }],
    ['2024.08.01', { numbers: ['2024', '08', '01'], letter: '', suffixes: [], revision: '' }],
    ['9999', { numbers: ['9999'], letter: '', suffixes: [], revision: '' }],
    ['1_alpha_beta_pre_rc_p', { numbers: ['1'], letter: '', suffixes: ['alpha', 'beta', 'pre', 'rc', 'p'].map((type) => ({ type, num: '' })), revision: '' }],
    ['1.2.3.4.5.6.7.8', { numbers: ['1', '2', '3', '4', '5', '6', '7', '8'], letter: '', suffixes: [], revision: '' }],
  ])('parses %s', (raw, fields) => {
    expect(parseVersion(raw)).toEqual({ raw, ...fields })
    expect(tryParseVersion(raw)).toEqual({ raw, ...fields })
    expect(isValidVersion(raw)).toBe(true)
  })

  // [input, 1-based column of the first offending character]
  it.each([
    ['', 1],
    ['1.0A', 4],
    ['1.0-r', 6],
    ['1..0', 3],
    ['_rc', 1],
    ['_rc1', 1],
    ['a', 1],
    ['1.', 3],
    ['.1', 1],
    ['1.0ab', 5],
    ['1.0_RC1', 5],
    ['1.0_foo', 5],
    ['1.0_pr', 6],
    ['1.0-foo', 4],
    ['1.0-R1', 4],
    ['1.0-r1-r2', 7],
    ['1.0_rc-1', 7],
    ['1.0 ', 4],
    [' 1.0', 1],
    ['1.0a.1', 5],
    ['1.0-r1a', 7],
    ['v1.0', 1],
  ] as const)('rejects %j at column %i', (raw, column) => {
    let error: unknown
    try {
      parseVersion(raw)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(OlmError)
    expect((error as OlmError).code).toBe('VERSION_SYNTAX')
    expect((error as OlmError).context.column).toBe(column)
    expect((error as OlmError).message).toContain(`"${raw}"`)
    expect(tryParseVersion(raw)).toBeNull()
    expect(isValidVersion(raw)).toBe(false)
  })
})

describe('versionWithoutRevision', () => {
  it.each([
    ['1.0_rc2-r3', '1.0_rc2'],
    ['1.0', '1.0'],
    ['1.0-r0', '1.0'],
    ['1.0-r007', '1.0'],
    ['0_pre20240208', '0_pre20240208'],
  ])('%s → %s', (raw, pv) => {
    expect(versionWithoutRevision(parseVersion(raw))).toBe(pv)
  })
})
