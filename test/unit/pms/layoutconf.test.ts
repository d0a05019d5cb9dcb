import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { formatLayoutConf, parseLayoutConf, type LayoutConf } from '../../../src/pms/layoutconf.js'

// The key set GURU's layout.conf uses (pms.md §1.3), written out by hand.
const GURU_STYLE = `# comment
masters = gentoo
manifest-hashes = BLAKE2B SHA512
manifest-required-hashes = BLAKE2B

update-changelog = false
cache-formats = md5-dict
thin-manifests = true
sign-commits = true
sign-manifests = false
eapis-banned = 0 1 2 3 4 5 6
`

describe('parseLayoutConf', () => {
  it('reads a GURU-style file', () => {
    const conf = parseLayoutConf(GURU_STYLE)
    expect(conf).toMatchObject({ masters: ['gentoo'], thinManifests: true, cacheFormats: ['md5-dict'], profileFormats: [] })
    expect(conf.repoName).toBeUndefined()
    expect(conf.values.get('eapis-banned')).toBe('0 1 2 3 4 5 6')
    expect(conf.values.size).toBe(9)
  })

  it.each<[string, string, Partial<LayoutConf>]>([
    ['empty file', '', { masters: undefined, thinManifests: false, cacheFormats: [] }],
    ['masters absent', 'thin-manifests = false\n', { masters: undefined, thinManifests: false }],
    ['masters present but empty', 'masters =\n', { masters: [] }],
    ['masters, several, odd spacing', '  masters=gentoo   science\tguru  \n', { masters: ['gentoo', 'science', 'guru'] }],
    ['later assignment wins', 'masters = a\nmasters = b\n', { masters: ['b'] }],
    ['quoted value', 'masters = "gentoo guru"\n', { masters: ['gentoo', 'guru'] }],
    ['thin-manifests is case-insensitive', 'thin-manifests = True\n', { thinManifests: true }],
    ['thin-manifests other word', 'thin-manifests = yes\n', { thinManifests: false }],
    ['repo-name', 'repo-name = my_repo\n', { repoName: 'my_repo' }],
    ['profile-formats', 'profile-formats = portage-2 profile-repo-deps\n', { profileFormats: ['portage-2', 'profile-repo-deps'] }],
    ['value containing =', 'x = a=b\n', { values: new Map([['x', 'a=b']]) }],
    ['indented comment, CRLF-free blank lines', '  # masters = x\n\n\n', { masters: undefined }],
  ])('%s', (_name, text, expected) => {
    expect(parseLayoutConf(text)).toMatchObject(expected)
  })

  it.each<[string, string, number]>([
    ['line without =', 'masters = gentoo\nthin-manifests true\n', 2],
    ['empty key', '# x\n= gentoo\n', 2],
    ['invalid master name', 'thin-manifests = true\nmasters = gentoo bad.name\n', 2],
    ['master that is a PN-invalid name', 'masters = local-1\n', 1],
    ['invalid repo-name', 'masters = gentoo\n\nrepo-name = -foo\n', 3],
  ])('invalid: %s %j → line %i', (_name, text, line) => {
    let caught: unknown
    try {
      parseLayoutConf(text, 'metadata/layout.conf')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(OlmError)
    expect((caught as OlmError).code).toBe('METADATA_INVALID')
    expect((caught as OlmError).context).toMatchObject({ file: 'metadata/layout.conf', line })
  })
})

describe('formatLayoutConf', () => {
  it('writes key = value lines that parse back', () => {
    const text = formatLayoutConf([
      ['masters', 'gentoo'],
      ['thin-manifests', 'true'],
      ['sign-manifests', 'false'],
    ])
    expect(text).toBe('masters = gentoo\nthin-manifests = true\nsign-manifests = false\n')
    expect(parseLayoutConf(text)).toMatchObject({ masters: ['gentoo'], thinManifests: true })
  })

  it('writes an empty masters line (no masters)', () => {
    expect(parseLayoutConf(formatLayoutConf([['masters', '']])).masters).toEqual([])
  })

  it.each<[string, string]>([
    ['bad key', 'value'],
    ['', 'x'],
    ['k', 'two\nlines'],
  ])('refuses to write %j = %j', (key, value) => {
    expect(() => formatLayoutConf([[key, value]])).toThrow(Error)
  })
})
