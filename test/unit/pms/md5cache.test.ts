import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { md5Hex } from '../../../src/pms/md5.js'
import {
  cacheValue,
  formatCacheEntry,
  inheritedEclasses,
  isCacheEntryValid,
  parseCacheEntry,
  type CacheEntry,
} from '../../../src/pms/md5cache.js'

// A made-up ebuild and eclasses; only their md5s matter.
const EBUILD = 'EAPI=8\ninherit frob-utils toolchain-funcs\nDESCRIPTION="Frobnicates widgets"\n'
const OVERLAY_ECLASS = '# frob-utils.eclass\nfrob() { :; }\n'
const MASTER_ECLASS = '# toolchain-funcs.eclass (pretend)\n'

const ENTRY_TEXT = [
  'BDEPEND=virtual/pkgconfig',
  'DEFINED_PHASES=compile install',
  'DESCRIPTION=Frobnicates widgets; a=b stays in the value',
  'EAPI=8',
  'INHERIT=frob-utils toolchain-funcs',
  'IUSE=doc',
  'LICENSE=MIT',
  'RDEPEND=doc? ( app-text/frob-docs ) dev-libs/libfrob:0=',
  'SLOT=0',
  `_eclasses_=frob-utils\t${md5Hex(OVERLAY_ECLASS)}\ttoolchain-funcs\t${md5Hex(MASTER_ECLASS)}`,
  `_md5_=${md5Hex(EBUILD)}`,
  '',
].join('\n')

describe('md5Hex', () => {
  it.each([
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    [new TextEncoder().encode('abc'), '900150983cd24fb0d6963f7d28e17f72'],
  ])('md5Hex(%j)', (input, hex) => {
    expect(md5Hex(input)).toBe(hex)
  })
})

describe('parseCacheEntry', () => {
  it('reads keys in file order and splits _eclasses_ pairs', () => {
    const e = parseCacheEntry(ENTRY_TEXT)
    expect([...e.keys.keys()]).toEqual([
      'BDEPEND', 'DEFINED_PHASES', 'DESCRIPTION', 'EAPI', 'INHERIT', 'IUSE', 'LICENSE', 'RDEPEND', 'SLOT',
    ])
    expect(cacheValue(e, 'DESCRIPTION')).toBe('Frobnicates widgets; a=b stays in the value')
    expect(cacheValue(e, 'KEYWORDS')).toBe('')
    expect(e.eclasses).toEqual([
      { name: 'frob-utils', md5: md5Hex(OVERLAY_ECLASS) },
      { name: 'toolchain-funcs', md5: md5Hex(MASTER_ECLASS) },
    ])
    expect(inheritedEclasses(e)).toEqual(['frob-utils', 'toolchain-funcs'])
    expect(e.md5).toBe(md5Hex(EBUILD))
  })

  it.each([
    ['no final newline', 'EAPI=8\nSLOT=0', 2, ''],
    ['no _md5_', 'EAPI=8\n', 1, ''],
    ['empty _eclasses_', 'EAPI=8\n_eclasses_=\n_md5_=abc\n', 1, 'abc'],
    ['empty value kept', 'EAPI=8\nIUSE=\n', 2, ''],
    ['empty text', '', 0, ''],
  ])('valid: %s', (_name, text, keyCount, md5) => {
    const e = parseCacheEntry(text)
    expect(e.keys.size).toBe(keyCount)
    expect(e.md5).toBe(md5)
  })

  it.each([
    ['line without =', 'EAPI=8\nSLOT 0\n', 2],
    ['blank line in the middle', 'EAPI=8\n\nSLOT=0\n', 2],
    ['empty key', 'EAPI=8\nSLOT=0\n=x\n', 3],
    ['odd _eclasses_ fields', 'EAPI=8\n_eclasses_=foo\tabc\tbar\n', 2],
    ['empty eclass name', '_eclasses_=\tabc\n', 1],
  ])('invalid: %s', (_name, text, line) => {
    let caught: unknown
    try {
      parseCacheEntry(text, 'metadata/md5-cache/app-misc/frob-1')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(OlmError)
    const err = caught as OlmError
    expect(err.code).toBe('METADATA_INVALID')
    expect(err.context).toMatchObject({ file: 'metadata/md5-cache/app-misc/frob-1', line })
  })
})

describe('formatCacheEntry', () => {
  it('round-trips a portage-written entry byte for byte', () => {
    expect(formatCacheEntry(parseCacheEntry(ENTRY_TEXT))).toBe(ENTRY_TEXT)
  })

  it('sorts keys, drops empty values and puts _eclasses_ and _md5_ last', () => {
    const e: CacheEntry = {
      keys: new Map([
        ['SLOT', '0'],
        ['IUSE', ''],
        ['EAPI', '8'],
        ['DEFINED_PHASES', '-'],
      ]),
      eclasses: [{ name: 'zz', md5: 'ab' }, { name: 'aa', md5: 'cd' }],
      md5: 'ef',
    }
    expect(formatCacheEntry(e)).toBe('DEFINED_PHASES=-\nEAPI=8\nSLOT=0\n_eclasses_=zz\tab\taa\tcd\n_md5_=ef\n')
  })

  it('omits _eclasses_ and _md5_ when empty', () => {
    expect(formatCacheEntry({ keys: new Map([['EAPI', '8']]), eclasses: [], md5: '' })).toBe('EAPI=8\n')
  })
})

describe('isCacheEntryValid', () => {
  const entry = parseCacheEntry(ENTRY_TEXT)
  const overlay = new Map([['frob-utils', md5Hex(OVERLAY_ECLASS)]])

  it.each<[string, string, ReadonlyMap<string, string>, boolean]>([
    ['matching ebuild and overlay eclass', md5Hex(EBUILD), overlay, true],
    ['ebuild md5 in upper case', md5Hex(EBUILD).toUpperCase(), overlay, true],
    ['edited ebuild', md5Hex(EBUILD + '# edited\n'), overlay, false],
    ['overlay eclass changed', md5Hex(EBUILD), new Map([['frob-utils', md5Hex('changed')]]), false],
    // toolchain-funcs comes from the masters: its drift does not matter (contract.md).
    ['master eclass drifted', md5Hex(EBUILD), new Map([...overlay, ['other', 'x']]), true],
    ['overlay ships no eclass at all', md5Hex(EBUILD), new Map(), true],
    ['overlay ships the master eclass with another md5', md5Hex(EBUILD), new Map([...overlay, ['toolchain-funcs', md5Hex('fork')]]), false],
  ])('%s → %s', (_name, ebuildMd5, eclassMd5, valid) => {
    expect(isCacheEntryValid(entry, ebuildMd5, eclassMd5)).toBe(valid)
  })

  it('an entry without _md5_ is never valid', () => {
    const noMd5 = parseCacheEntry('EAPI=8\nSLOT=0\n')
    expect(isCacheEntryValid(noMd5, '', new Map())).toBe(false)
  })
})
