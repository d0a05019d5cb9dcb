import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseRequest } from '../../src/config/requests.js'
import { openLocalTree } from '../../src/local/local-tree.js'
import { openDirTree } from '../../src/overlay/dir-tree.js'
import { resolveClosure } from '../../src/resolve/closure.js'
import { createOverlayIndex } from '../../src/resolve/overlay-index.js'
import { buildPlan, type FileEntry } from '../../src/repo/plan.js'
import { isOlmError } from '../../src/errors.js'
import { type MiniOverlay, writeMiniOverlay } from '../helpers/mini-overlay.js'
import { testDir } from '../helpers/tmp.js'

const gentoo: MiniOverlay = {
  name: 'gentoo',
  masters: '',
  categories: ['app-misc', 'dev-libs', 'dev-python'],
  eclasses: { docs: 'docs from gentoo\n', 'toolchain-funcs': 'tc\n' },
  licenses: ['MIT', 'GPL-2'],
  licenseGroups: 'FREE MIT GPL-2\n',
  thirdPartyMirrors: 'gnu https://ftp.gnu.org/gnu\n',
  ebuilds: {
    'dev-libs/libfoo-1.0': { SLOT: '1' },
    'dev-libs/libfoo-2.0': { SLOT: '2' },
    'dev-python/requests-2.31.0': {},
    'app-misc/present-1': {},
  },
}

const guru: MiniOverlay = {
  name: 'guru',
  categories: ['dev-nim'],
  eclasses: { 'nim-utils': 'nim utils\n', 'nim-build': 'inherit nim-utils\n', docs: 'docs from guru\n' },
  licenses: ['GuruLicense', 'MIT'],
  licenseGroups: 'FREE GuruLicense MIT\nOTHER Unused\n',
  thirdPartyMirrors: 'npm https://registry.npmjs.org\ngnu https://elsewhere\n',
  packageMask: '# dev-nim/b is broken\n=dev-nim/b-2\n\n# nobody uses it\ndev-nim/unused\n',
  ebuilds: {
    'dev-nim/a-1': { inherit: 'nim-build nim-utils toolchain-funcs', RDEPEND: 'dev-nim/b !dev-nim/blocked dev-libs/libfoo:2', LICENSE: 'GuruLicense MIT', SRC_URI: 'mirror://npm/a/-/a-1.tgz mirror://gnu/x.tar.gz' },
    'dev-nim/b-1': { DEPEND: 'doc? ( dev-nim/c ) || ( app-misc/present dev-nim/never )', PDEPEND: 'dev-nim/a' },
    'dev-nim/b-2': {},
    'dev-nim/c-1': { BDEPEND: '|| ( dev-nim/d dev-libs/libfoo:3 ) >=dev-python/requests-2.32 dev-libs/nowhere' },
    'dev-nim/d-1': {},
    'dev-python/requests-2.32.0': {},
    'dev-nim/blocked-1': {},
    'dev-nim/never-1': {},
    'dev-nim/unused-1': {},
    'dev-nim/narrow-1': {},
    'dev-nim/narrow-2': { RDEPEND: 'dev-nim/d' },
    'dev-nim/usesdocs-1': { inherit: 'docs' },
    // the same values in several ebuilds: parsed once, and still required by each
    'dev-nim/twins-1': { RDEPEND: '|| ( dev-nim/never dev-nim/narrow )' },
    'dev-nim/twins-2': { RDEPEND: '|| ( dev-nim/never dev-nim/narrow )' },
    'dev-nim/twins-3': { RDEPEND: 'dev-nim/narrow dev-libs/nowhere' },
    'dev-nim/twins-4': { RDEPEND: 'dev-nim/narrow dev-libs/nowhere' },
    // a narrowed request widened after another package inherited the same eclass
    'dev-nim/wide-1': { inherit: 'nim-utils' },
    'dev-nim/wide-2': { inherit: 'nim-utils' },
    'dev-nim/wider-1': { inherit: 'nim-utils', RDEPEND: 'dev-nim/wide' },
  },
}

async function setup(extra: MiniOverlay[] = []) {
  const dir = await testDir()
  await writeMiniOverlay(path.join(dir, 'gentoo'), gentoo)
  const overlays = new Map()
  for (const o of [guru, ...extra]) {
    await writeMiniOverlay(path.join(dir, o.name), o, gentoo.eclasses)
    overlays.set(o.name, createOverlayIndex(openDirTree(path.join(dir, o.name), o.name, `commit-of-${o.name}`)))
  }
  const local = openLocalTree([{ name: 'gentoo', dir: path.join(dir, 'gentoo') }])
  return { overlays, local }
}

const req = (s: string, line = 1) => parseRequest(s, { file: 'packages.d/test.conf', line })

describe('resolveClosure', () => {
  it('follows rules 1-8 from one request', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('dev-nim/a::guru')], overlays, local })
    const pkgs = c.packages.map((p) => p.cp)
    // Breadth first: a, then its RDEPEND b, then b's deps c, then c's d and requests.
    expect(pkgs).toEqual(['dev-nim/a', 'dev-nim/b', 'dev-nim/c', 'dev-nim/d', 'dev-python/requests'])
    expect(c.packages.find((p) => p.cp === 'dev-nim/b')!.ebuilds.map((e) => e.ebuild.pvr)).toEqual(['1', '2'])
    expect(c.eclasses.map((e) => e.name).sort()).toEqual(['nim-build', 'nim-utils'])
    expect(c.licenses.map((l) => l.name)).toEqual(['GuruLicense']) // MIT is in the local tree
    expect(c.masks.map((m) => m.entry.raw)).toEqual(['=dev-nim/b-2'])
    expect(c.licenseGroups).toEqual([{ overlay: 'guru', group: 'FREE', licenses: ['GuruLicense'] }])
    expect(c.mirrors.map((m) => m.name)).toEqual(['npm']) // gnu is defined by the master
    expect(c.categories).toEqual(['dev-nim', 'dev-python'])
    expect(c.unsatisfied.map((u) => u.atom)).toEqual(['dev-libs/nowhere'])
    expect(c.unsatisfied[0]!.chain[0]).toContain('dev-nim/a::guru')
  })

  it('carries the mirrors a malformed SRC_URI names, once per text, and none for plain URLs', async () => {
    const mirrors: MiniOverlay = {
      name: 'mirrors',
      categories: ['dev-nim'],
      thirdPartyMirrors: 'cran https://cran.example\nzef https://zef.example\nnpm https://npm.example\n',
      ebuilds: {
        'dev-nim/m-1': { SRC_URI: 'doc? ( mirror://cran/m-1.tgz' },
        'dev-nim/m-2': { SRC_URI: 'doc? ( mirror://cran/m-1.tgz' },
        'dev-nim/m-3': { SRC_URI: 'https://example.org/mirror-of-zef/m-3.tgz', RDEPEND: 'dev-nim/n' },
        'dev-nim/n-1': { SRC_URI: 'mirror://zef/n-1.tgz' },
      },
    }
    const { overlays, local } = await setup([mirrors])
    const c = await resolveClosure({ requests: [req('dev-nim/m::mirrors')], overlays, local })
    expect(c.packages.map((p) => p.cp)).toEqual(['dev-nim/m', 'dev-nim/n'])
    expect(c.mirrors).toEqual([
      { overlay: 'mirrors', name: 'cran', urls: ['https://cran.example'] },
      { overlay: 'mirrors', name: 'zef', urls: ['https://zef.example'] },
    ])
  })

  it('never pulls blockers, satisfied any-of groups, or what the local tree has', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('dev-nim/a::guru')], overlays, local })
    const pkgs = c.packages.map((p) => p.cp)
    expect(pkgs).not.toContain('dev-nim/blocked')
    expect(pkgs).not.toContain('dev-nim/never')
    expect(pkgs).not.toContain('dev-libs/libfoo')
  })

  it('records the chain that brought each package', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('dev-nim/a::guru')], overlays, local })
    const d = c.packages.find((p) => p.cp === 'dev-nim/d')!
    expect(d.requested).toBe(false)
    expect(d.chain).toEqual([
      'dev-nim/a::guru (packages.d/test.conf:1)',
      'dev-nim/a-1 RDEPEND dev-nim/b',
      'dev-nim/b-1 DEPEND dev-nim/c',
      'dev-nim/c-1 BDEPEND dev-nim/d',
    ])
  })

  it('copies only the versions a narrowed request matches', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('=dev-nim/narrow-1::guru')], overlays, local })
    expect(c.packages.map((p) => [p.cp, p.ebuilds.map((e) => e.ebuild.pvr)])).toEqual([['dev-nim/narrow', ['1']]])
  })

  it('widens a narrowed request that a dependency needs whole, however often the dependency is said', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('=dev-nim/narrow-1::guru'), req('dev-nim/twins::guru', 2)], overlays, local })
    // the any-of is satisfied by the narrowed request as it is; the plain atom of twins-3 widens it
    expect(c.packages.map((p) => [p.cp, p.ebuilds.map((e) => e.ebuild.pvr)])).toEqual([
      ['dev-nim/narrow', ['1', '2']],
      ['dev-nim/twins', ['1', '2', '3', '4']],
      ['dev-nim/d', ['1']],
    ])
    expect(c.unsatisfied).toEqual([{ atom: 'dev-libs/nowhere', chain: ['dev-nim/twins::guru (packages.d/test.conf:2)', 'dev-nim/twins-3 RDEPEND dev-libs/nowhere'] }])
  })

  it('names each package that needs an eclass once in the provenance, a widened one too', async () => {
    const { overlays, local } = await setup()
    const c = await resolveClosure({ requests: [req('=dev-nim/wide-1::guru'), req('dev-nim/wider::guru', 2)], overlays, local })
    expect(c.packages.map((p) => [p.cp, p.ebuilds.map((e) => e.ebuild.pvr)])).toEqual([
      ['dev-nim/wide', ['1', '2']],
      ['dev-nim/wider', ['1']],
    ])
    const trees = new Map([...overlays].map(([name, index]) => [name, index.tree]))
    const plan = await buildPlan(c, { repoName: 'overlayman', trees })
    const file = plan.entries.find((e): e is FileEntry => e.kind === 'file' && e.relPath === 'metadata/overlayman.json')!
    const provenance = JSON.parse((await file.read()).toString('utf8'))
    const nimUtils = provenance.eclasses.find((e: { eclass: string }) => e.eclass === 'nim-utils')
    expect(nimUtils.neededBy).toEqual(['dev-nim/wide inherits it', 'dev-nim/wider inherits it'])
    expect(nimUtils.chain).toEqual(['=dev-nim/wide-1::guru (packages.d/test.conf:1)', 'dev-nim/wide-1 inherits nim-utils'])
  })

  it('refuses a package the overlay lacks, and a version nothing matches', async () => {
    const { overlays, local } = await setup()
    const missing = resolveClosure({ requests: [req('dev-nim/nope::guru')], overlays, local })
    await expect(missing).rejects.toSatisfy((e) => isOlmError(e, 'PACKAGE_NOT_FOUND'))
    const noVersion = resolveClosure({ requests: [req('>=dev-nim/d-5::guru', 3)], overlays, local })
    await expect(noVersion).rejects.toSatisfy((e) => isOlmError(e, 'PACKAGE_NOT_FOUND') && e.context.line === 3)
  })

  it('refuses an eclass that would shadow what another overlay package was written against', async () => {
    const other: MiniOverlay = { name: 'other', ebuilds: { 'app-misc/needsdocs-1': { inherit: 'docs' } } }
    const { overlays, local } = await setup([other])
    const run = resolveClosure({ requests: [req('dev-nim/usesdocs::guru'), req('app-misc/needsdocs::other', 2)], overlays, local })
    await expect(run).rejects.toSatisfy((e) => isOlmError(e, 'CONFLICT') && /docs/.test((e as Error).message))
  })

  it('refuses a dependency that needs another overlay\'s version of a package already taken', async () => {
    const other: MiniOverlay = { name: 'other', ebuilds: { 'dev-python/requests-2.30.0': {} } }
    const { overlays, local } = await setup([other])
    const run = resolveClosure({ requests: [req('dev-python/requests::other'), req('dev-nim/a::guru', 2)], overlays, local })
    await expect(run).rejects.toSatisfy((e) => isOlmError(e, 'CONFLICT') && /dev-python\/requests is needed from ::guru/.test((e as Error).message))
  })

  it('lets a package from another overlay satisfy a dependency when its versions match', async () => {
    const other: MiniOverlay = { name: 'other', ebuilds: { 'dev-python/requests-2.40.0': {} } }
    const { overlays, local } = await setup([other])
    const c = await resolveClosure({ requests: [req('dev-python/requests::other'), req('dev-nim/a::guru', 2)], overlays, local })
    expect(c.packages.filter((p) => p.cp === 'dev-python/requests').map((p) => p.overlay)).toEqual(['other'])
  })

  it('gives the same closure for the same input', async () => {
    const { overlays, local } = await setup()
    const a = await resolveClosure({ requests: [req('dev-nim/a::guru'), req('dev-nim/narrow::guru', 2)], overlays, local })
    const b = await resolveClosure({ requests: [req('dev-nim/a::guru'), req('dev-nim/narrow::guru', 2)], overlays, local })
    expect(JSON.stringify(a.packages.map((p) => [p.cp, p.chain]))).toEqual(JSON.stringify(b.packages.map((p) => [p.cp, p.chain])))
  })
})
