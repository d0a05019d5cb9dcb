/**
 * The depend-phase evaluator against the fixture overlays: for every ebuild
 * of the GURU-like and tenstorrent-like overlays, evaluated metadata equals
 * the committed md5-cache entry key by key. Also: results cache, sources
 * that are git object stores are materialized, failures are per ebuild.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isOlmError } from '../../src/errors.js'
import { createMetadataEvaluator, type MetadataEvaluatorHandle } from '../../src/metadata/evaluator.js'
import { readEvaluationUser } from '../../src/metadata/user.js'
import { openDirTree } from '../../src/overlay/dir-tree.js'
import { formatCacheEntry, parseCacheEntry } from '../../src/pms/md5cache.js'
import { createOverlayIndex, type OverlayEbuild, type OverlayIndex } from '../../src/resolve/overlay-index.js'
import { readFile } from 'node:fs/promises'
import { FIXTURES } from '../helpers/system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

const GENTOO_ECLASS = path.join(FIXTURES, 'gentoo/eclass')

/** Every ebuild of a fixture overlay, from its md5-cache listing. */
async function fixtureEbuilds(index: OverlayIndex): Promise<OverlayEbuild[]> {
  const out: OverlayEbuild[] = []
  for (const category of (await index.tree.readDir('metadata/md5-cache')) ?? []) {
    for (const entry of (await index.tree.readDir(`metadata/md5-cache/${category.name}`)) ?? []) {
      const pn = entry.name.replace(/-[0-9].*$/, '')
      const found = (await index.ebuilds(category.name, pn)).find((e) => `${e.pn}-${e.pvr}` === entry.name)
      if (!found) throw new Error(`no ebuild for cache entry ${category.name}/${entry.name}`)
      out.push(found)
    }
  }
  return out
}

describe('metadata evaluator on the fixture overlays', () => {
  let cacheDir: string
  let evaluator: MetadataEvaluatorHandle
  beforeAll(async () => {
    cacheDir = await suiteDir('olm-metadata-cache-')
    evaluator = createMetadataEvaluator({
      masterEclassDirs: [GENTOO_ECLASS],
      cacheDir,
      jobs: 2,
      runAs: await readEvaluationUser(),
    })
  })
  afterAll(async () => {
    await evaluator.close()
    await removeDir(cacheDir)
  })

  describe.each(['guru', 'tenstorrent'])('::%s', (overlay) => {
    const index = createOverlayIndex(openDirTree(path.join(FIXTURES, overlay), overlay, 'fixture'))

    it('evaluates every ebuild to its md5-cache entry, key by key', async () => {
      const ebuilds = await fixtureEbuilds(index)
      expect(ebuilds.length).toBeGreaterThan(10)
      const results = await Promise.all(ebuilds.map((e) => evaluator(index, e)))
      for (const [i, e] of ebuilds.entries()) {
        const cacheRel = `metadata/md5-cache/${e.category}/${e.pn}-${e.pvr}`
        const expected = parseCacheEntry((await index.tree.readFile(cacheRel))!.toString('utf8'))
        const got = results[i]!
        expect({ cpv: cacheRel, keys: Object.fromEntries(got.keys) }).toEqual({ cpv: cacheRel, keys: Object.fromEntries(expected.keys) })
        const byName = (x: { name: string }, y: { name: string }) => (x.name < y.name ? -1 : 1)
        expect([...got.eclasses].sort(byName)).toEqual([...expected.eclasses].sort(byName))
        expect(got.md5).toBe(expected.md5)
      }
    })
  })
})
