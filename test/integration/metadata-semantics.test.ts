/**
 * Depend-phase rules (pms.md §6) on small synthetic overlays: accumulation,
 * EXPORT_FUNCTIONS, DEFINED_PHASES, EAPI-dependent keys, eclass search
 * order, version helpers, the results cache, and overlays that are not
 * directories (materialized into the scratch dir).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetadataEvaluator, type EvaluatorOptions, type MetadataEvaluatorHandle } from '../../src/metadata/evaluator.js'
import { readEvaluationUser } from '../../src/metadata/user.js'
import { openDirTree } from '../../src/overlay/dir-tree.js'
import { entryFromListing, type OverlayTree } from '../../src/overlay/tree.js'
import { md5Hex } from '../../src/pms/md5.js'
import { createOverlayIndex } from '../../src/resolve/overlay-index.js'
import { testDir } from '../helpers/tmp.js'

const evaluators: MetadataEvaluatorHandle[] = []
afterEach(async () => {
  for (const e of evaluators.splice(0)) await e.close()
})

interface Layout {
  /** "cat/pn/pn-ver.ebuild" → text */
  files: Record<string, string>
  /** master eclasses: name → text */
  master?: Record<string, string>
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
    await writeFile(path.join(dir, rel), text)
  }
}

async function setup(layout: Layout, extra: Partial<EvaluatorOptions> = {}) {
  const root = await testDir('olm-semantics-')
  await writeTree(path.join(root, 'overlay'), layout.files)
  const masterFiles = Object.fromEntries(Object.entries(layout.master ?? {}).map(([n, t]) => [`${n}.eclass`, t]))
  await writeTree(path.join(root, 'master/eclass'), masterFiles)
  const options = { masterEclassDirs: [path.join(root, 'master/eclass')], cacheDir: path.join(root, 'cache'), jobs: 1, runAs: await readEvaluationUser(), ...extra }
  const open = () => {
    const e = createMetadataEvaluator(options)
    evaluators.push(e)
    return e
  }
  const evaluator = open()
  const index = createOverlayIndex(openDirTree(path.join(root, 'overlay'), 'test', 'c1'))
  const run = async (category: string, pn: string, e = evaluator, pvr?: string) => {
    const ebuild = (await index.ebuilds(category, pn)).find((x) => pvr === undefined || x.pvr === pvr)
    const entry = await e(index, ebuild!)
    return { ...Object.fromEntries(entry.keys), _eclasses_: entry.eclasses.map((x) => x.name).join(' ') }
  }
  return { root, run, open, evaluator }
}

const ECLASS_A = `
IUSE="a-flag"
DEPEND="cat/from-a"
RESTRICT="test"
PROPERTIES="live"
a_src_compile() { :; }
EXPORT_FUNCTIONS src_compile
`
const ECLASS_B = `
inherit a
IUSE="b-flag"
RDEPEND="cat/from-b"
SLOT="from-b"
b_pkg_setup() { :; }
EXPORT_FUNCTIONS pkg_setup
`

describe('depend-phase semantics', () => {
  it('accumulates eclass values after the ebuild’s, post-order, and tracks INHERIT and _eclasses_', async () => {
    const { run } = await setup({
      master: { a: ECLASS_A, b: ECLASS_B },
      files: { 'cat/p/p-1.ebuild': 'EAPI=8\nIUSE="mine"\ninherit b\nDEPEND="cat/mine"\nRESTRICT="mirror"\nSLOT=0\nsrc_install() { :; }\n' },
    })
    expect(await run('cat', 'p')).toEqual({
      EAPI: '8',
      IUSE: 'mine a-flag b-flag',
      DEPEND: 'cat/mine cat/from-a',
      RDEPEND: 'cat/from-b',
      RESTRICT: 'mirror test',
      PROPERTIES: 'live',
      SLOT: '0',
      INHERIT: 'b',
      DEFINED_PHASES: 'compile install setup',
      _eclasses_: 'a b',
    })
  })

  it('EAPI 7: RESTRICT/PROPERTIES are plain variables, IDEPEND is dropped; EAPI 6 drops BDEPEND', async () => {
    const { run } = await setup({
      master: { a: ECLASS_A },
      files: {
        'cat/seven/seven-1.ebuild': 'EAPI=7\ninherit a\nRESTRICT="mine"\nIDEPEND="cat/i"\nBDEPEND="cat/b"\nSLOT=0\n',
        'cat/six/six-1.ebuild': 'EAPI=6\nBDEPEND="cat/b"\nSLOT=0\n',
      },
    })
    const seven = await run('cat', 'seven')
    expect(seven).toMatchObject({ RESTRICT: 'mine', PROPERTIES: 'live', BDEPEND: 'cat/b' })
    expect(seven).not.toHaveProperty('IDEPEND')
    expect(await run('cat', 'six')).not.toHaveProperty('BDEPEND')
  })

  it('EAPI 0-3: RDEPEND defaults to DEPEND when unset; no EAPI line means EAPI 0', async () => {
    const { run } = await setup({
      files: {
        'cat/three/three-1.ebuild': 'EAPI=3\nDEPEND="cat/d"\nSLOT=0\n',
        'cat/empty/empty-1.ebuild': 'EAPI=3\nDEPEND="cat/d"\nRDEPEND=""\nSLOT=0\n',
        'cat/zero/zero-1.ebuild': '# no EAPI here\nDEPEND="cat/d"\nSLOT=0\nsrc_prepare() { :; }\n',
      },
    })
    expect(await run('cat', 'three')).toMatchObject({ RDEPEND: 'cat/d', EAPI: '3' })
    expect(await run('cat', 'empty')).not.toHaveProperty('RDEPEND')
    // src_prepare is not a phase of EAPI 0
    expect(await run('cat', 'zero')).toMatchObject({ EAPI: '0', RDEPEND: 'cat/d', DEFINED_PHASES: '-' })
  })

  it('the overlay’s own eclass shadows the master’s; conditional inherits follow PV', async () => {
    const { run, evaluator } = await setup({
      master: { a: ECLASS_A, live: 'PROPERTIES="live"\n' },
      files: {
        'eclass/a.eclass': 'IUSE="own-a"\n',
        'cat/q/q-1.ebuild': 'EAPI=8\ninherit a\n[[ ${PV} == 9999 ]] && inherit live\nSLOT=0\n',
        'cat/q/q-9999.ebuild': 'EAPI=8\ninherit a\n[[ ${PV} == 9999 ]] && inherit live\nSLOT=0\n',
      },
    })
    expect(await run('cat', 'q', evaluator, '1')).toMatchObject({ IUSE: 'own-a', INHERIT: 'a', _eclasses_: 'a' })
    const live = await run('cat', 'q', evaluator, '9999')
    expect(live).toMatchObject({ IUSE: 'own-a', INHERIT: 'a live', PROPERTIES: 'live', _eclasses_: 'a live' })
  })

  it.each([
    ['$(ver_cut 1-2 1.2.3)', '1.2'],
    ['$(ver_cut 2- 1.2.3)', '2.3'],
    ['$(ver_cut 3 1.2.3b)', '3'],
    ['$(ver_cut 0-1 .1.2)', '.1'],
    ['$(ver_cut 1-2)', '2.5'],
    ['$(ver_rs 1 - 1.2.3)', '1-2.3'],
    ['$(ver_rs 1- _ 1.2.3)', '1_2_3'],
    ['$(ver_rs 2 x 1.2b)', '1.2xb'],
    ['$(ver_test 1.2 -lt 1.10 && echo y)', 'y'],
    ['$(ver_test 1.0_rc2_p1 -gt 1.0_rc2 && echo y)', 'y'],
    ['$(ver_test 1.01 -lt 1.1 && echo y)', 'y'],
    ['$(ver_test 1.010 -eq 1.01 && echo y)', 'y'],
    ['$(ver_test 0_pre20240208 -lt 0 && echo y)', 'y'],
    ['$(ver_test 1.0_alpha_beta -lt 1.0_alpha && echo y)', 'y'],
    ['$(ver_test 1.0-r01 -eq 1.0-r1 && echo y)', 'y'],
    ['$(ver_test 12.2.5 -gt 12.2b && echo y)', 'y'],
    ['$(ver_test -ge 2.5 && echo y)', 'y'],
    ['$(has b a b c && echo y)', 'y'],
    ['$(nonfatal die -n oops || echo survived)', 'survived'],
  ])('%s → %s', async (expr, expected) => {
    const { run } = await setup({ files: { 'cat/v/v-2.5.0.ebuild': `EAPI=8\nDESCRIPTION="${expr}"\nSLOT=0\n` } })
    expect((await run('cat', 'v')).DESCRIPTION).toBe(expected)
  })

  it('caches results keyed by the ebuild and its eclasses, and re-evaluates when an eclass changes', async () => {
    const layout = { master: { a: ECLASS_A }, files: { 'cat/c/c-1.ebuild': 'EAPI=8\ninherit a\nSLOT=0\n' } }
    const { root, run, open, evaluator } = await setup(layout)
    expect((await run('cat', 'c')).IUSE).toBe('a-flag')
    expect(evaluator.stats).toEqual({ evaluated: 1, cached: 0, failed: 0 })
    const second = open()
    await run('cat', 'c', second)
    expect(second.stats).toEqual({ evaluated: 0, cached: 1, failed: 0 })
    await writeFile(path.join(root, 'master/eclass/a.eclass'), 'IUSE="changed"\n')
    const third = open()
    expect((await run('cat', 'c', third)).IUSE).toBe('changed')
    expect(third.stats).toEqual({ evaluated: 1, cached: 0, failed: 0 })
  })

  it('materializes overlays that are not directories (a git object store), with md5s of the sourced files', async () => {
    const files: Record<string, string> = {
      'eclass/own.eclass': 'IUSE="own"\n',
      'cat/g/g-1.ebuild': 'EAPI=8\ninherit own\nSLOT=0\n',
    }
    const tree = memoryTree('mem', files)
    const root = await testDir('olm-mem-')
    const evaluator = createMetadataEvaluator({ masterEclassDirs: [], cacheDir: path.join(root, 'cache'), jobs: 1, runAs: await readEvaluationUser() })
    evaluators.push(evaluator)
    const index = createOverlayIndex(tree)
    const [ebuild] = await index.ebuilds('cat', 'g')
    const entry = await evaluator(index, ebuild!)
    expect(entry.keys.get('IUSE')).toBe('own')
    expect(entry.eclasses).toEqual([{ name: 'own', md5: md5Hex(files['eclass/own.eclass']!) }])
    expect(entry.md5).toBe(md5Hex(files['cat/g/g-1.ebuild']!))
  })

  it('records only the EAPI of an ebuild whose EAPI it does not know, without sourcing it', async () => {
    const { run } = await setup({ files: { 'cat/u/u-1.ebuild': 'EAPI=42\ndie "must not be sourced"\n' } })
    expect(await run('cat', 'u')).toEqual({ EAPI: '42', _eclasses_: '' })
  })
})

/** An OverlayTree held in memory: nothing bash could source in place. */
function memoryTree(overlay: string, files: Record<string, string>): OverlayTree {
  const dirs = new Map<string, Set<string>>()
  for (const rel of Object.keys(files)) {
    const parts = rel.split('/')
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (!dirs.has(dir)) dirs.set(dir, new Set())
      dirs.get(dir)!.add(parts[i]!)
    }
  }
  const tree: OverlayTree = {
    overlay,
    commit: 'mem',
    entry: (rel) => entryFromListing(tree, rel),
    async readDir(rel) {
      const names = dirs.get(rel)
      if (!names) return null
      return [...names].sort().map((name) => {
        const child = rel === '' ? name : `${rel}/${name}`
        return { name, type: dirs.has(child) ? ('dir' as const) : ('file' as const), executable: false }
      })
    },
    async readFile(rel) {
      return rel in files ? Buffer.from(files[rel]!) : null
    },
    async readLink() {
      return null
    },
  }
  return tree
}
