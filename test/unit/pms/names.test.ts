import { describe, expect, it } from 'vitest'
import {
  isValidCategory,
  isValidEapi,
  isValidEclassName,
  isValidKeyword,
  isValidLicenseName,
  isValidPackageName,
  isValidRepoName,
  isValidSlotName,
  isValidUseFlag,
  parseEbuildFileName,
  splitCategoryPackageVersion,
  splitPackageVersion,
} from '../../../src/pms/names.js'

type Check = (s: string) => boolean

/** [checker, valid names, invalid names] per pms.md §2.1. */
const RULES: [string, Check, string[], string[]][] = [
  ['category', isValidCategory,
    ['app-misc', 'dev-nim', 'virtual', 'x11-libs', 'Foo_bar', '_x', '9a', 'a+b', 'a.b'],
    ['', '-app', '.app', '+app', 'app/misc', 'app misc', 'app@x', 'äpp', 'app:x']],
  ['package', isValidPackageName,
    ['foo', 'foo-bar', 'foo-bar2', 'foo-r1', 'foo+', 'foo_bar', '_foo', '9base', 'Foo', 'foo-', 'foo--bar', 'gtk+', 'foo-x1', 'foo-r', 'foo-1X', 'foo-1_foo', 'foo-1-r'],
    ['', '-foo', '+foo', 'foo.bar', 'foo-2', 'foo-2a', 'foo-1.0', 'foo-1-r1', 'foo-1_rc1', 'foo-bar-0_pre1', 'gtk+-2', 'foo-1x', 'foo/bar', 'foo bar', 'foo@x']],
  ['repo', isValidRepoName,
    ['gentoo', 'guru', 'tenstorrent', 'my_overlay', 'local-repo', '_x', 'x-r1'],
    ['', '-guru', 'local-1', 'a+b', 'a.b', 'a b', 'guru::x', 'repo-2a']],
  ['slot', isValidSlotName,
    ['0', '2', '1.1', 'stable', '0_beta', 'a-b', 'a+b', '_x'],
    ['', '-1', '.1', '+1', '0/1', '1=', '*', 'a b', 'a:b']],
  ['eclass', isValidEclassName,
    ['cargo', 'nim-utils', 'go-module', '_private', 'a.b', 'A1'],
    ['', 'default', '1eclass', '-x', '.x', 'a+b', 'a b', 'a/b']],
  ['license', isValidLicenseName,
    ['GPL-2', 'GPL-2+', 'MIT', 'Apache-2.0', 'CC-BY-SA-4.0', 'all-rights-reserved', '_x'],
    ['', '-GPL', '.GPL', '+GPL', 'GPL 2', 'GPL/2', '||']],
  ['USE flag', isValidUseFlag,
    ['doc', 'python_targets_python3_13', 'qt6', 'X', 'a+b', 'a@b', 'a-b', '3d'],
    ['', '_doc', '-doc', '+doc', '@doc', 'doc?', 'doc=', 'a.b', 'a b', '!doc']],
  ['keyword', isValidKeyword,
    ['amd64', 'arm64', 'x86-linux', '_x'],
    ['', '~amd64', '-amd64', '-*', 'a.b', 'a+b']],
  ['EAPI', isValidEapi,
    ['0', '8', '9', '5-progress', 'a+b', 'a.b'],
    ['', '-8', '.8', '+8', '8 ', 'a/b']],
]

describe.each(RULES)('%s names', (_kind, check, valid, invalid) => {
  it.each(valid)('accepts %j', (s) => expect(check(s)).toBe(true))
  it.each(invalid)('rejects %j', (s) => expect(check(s)).toBe(false))
})

describe('splitCategoryPackageVersion (pms.md §2.2)', () => {
  it.each([
    ['app-misc/foo-bar-1.0_rc2-r3', 'foo-bar', '1.0_rc2-r3', '3'],
    ['app-misc/foo-bar2-1.0', 'foo-bar2', '1.0', ''],
    ['app-misc/foo-r1-1.0', 'foo-r1', '1.0', ''],
    ['app-misc/foo+-1', 'foo+', '1', ''],
    ['app-misc/foo-1.0a_p1_beta2-r07', 'foo', '1.0a_p1_beta2-r07', '07'],
    ['dev-nim/boomer-0_pre20240208', 'boomer', '0_pre20240208', ''],
    ['app-misc/foo-1.0-r0', 'foo', '1.0-r0', '0'],
    ['app-misc/foo-1-r1', 'foo', '1-r1', '1'],
    ['dev-nim/nimbus-9999', 'nimbus', '9999', ''],
  ])('%s → PN %s, PVR %s', (cpv, pn, pvr, revision) => {
    const split = splitCategoryPackageVersion(cpv)
    expect(split).not.toBeNull()
    expect(split!.category).toBe(cpv.slice(0, cpv.indexOf('/')))
    expect(split!.pn).toBe(pn)
    expect(split!.pvr).toBe(pvr)
    expect(split!.version.raw).toBe(pvr)
    expect(split!.version.revision).toBe(revision)
    expect(splitPackageVersion(cpv.slice(cpv.indexOf('/') + 1))).toEqual({ pn, pvr, version: split!.version })
  })

  it.each([
    'app-misc/foo-2-1.0',
    'app-misc/foo-2a-1.0',
    'app-misc/-foo-1',
    'app-misc/foo-1.0A',
    'app-misc/foo-1.0-r',
    'app-misc/foo-1.0-foo',
    'app-misc/foo',
    'app-misc/foo-',
    'app-misc/-1',
    'app-misc/foo.bar-1',
    '-misc/foo-1',
    'foo-1',
    'app-misc/',
  ])('rejects %s', (cpv) => {
    expect(splitCategoryPackageVersion(cpv)).toBeNull()
    const slash = cpv.indexOf('/')
    if (slash !== -1 && !cpv.startsWith('-')) expect(splitPackageVersion(cpv.slice(slash + 1))).toBeNull()
  })
})

describe('parseEbuildFileName (pms.md §2.3)', () => {
  it.each([
    ['tt-kmd', 'tt-kmd-1.34.ebuild', '1.34'],
    ['nimbus', 'nimbus-9999.ebuild', '9999'],
    ['foo', 'foo-1.0-r0.ebuild', '1.0-r0'],
    ['foo-bar', 'foo-bar-1.0_rc2-r3.ebuild', '1.0_rc2-r3'],
    ['foo-r1', 'foo-r1-1.0.ebuild', '1.0'],
    ['boomer', 'boomer-0_pre20240208.ebuild', '0_pre20240208'],
  ])('%s/%s → %s', (pnDir, fileName, pvr) => {
    const parsed = parseEbuildFileName(pnDir, fileName)
    expect(parsed).toEqual({ pn: pnDir, pvr, version: expect.objectContaining({ raw: pvr }) })
  })

  it.each([
    ['tt-kmd', 'tt-kmd-1.34.ebuild.orig'],
    ['tt-kmd', 'tt-kmd-1.34'],
    ['tt-kmd', 'tt-kmd.ebuild'],
    ['tt-kmd', 'tt-kmd-.ebuild'],
    ['tt-kmd', 'other-1.34.ebuild'],
    ['tt-kmd', 'tt-kmd-1.34A.ebuild'],
    ['tt-kmd', 'tt-kmd-1.34-foo.ebuild'],
    ['tt', 'tt-kmd-1.34.ebuild'],
    ['foo', 'Foo-1.ebuild'],
    ['foo-2', 'foo-2-1.0.ebuild'],
    ['foo.bar', 'foo.bar-1.ebuild'],
    ['foo', 'metadata.xml'],
    ['foo', 'foo-1.0-r.ebuild'],
  ])('ignores %s/%s', (pnDir, fileName) => {
    expect(parseEbuildFileName(pnDir, fileName)).toBeNull()
  })
})
