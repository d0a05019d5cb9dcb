import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchGitOverlay, openGitTree } from '../../src/overlay/git.js'
import { commitChange, git, makeBareRepo, type TreeSpec } from '../helpers/bare-repo.js'
import { graftCommit } from '../helpers/reliability-hostile.js'
import { gitHttpBackendMissing, startGitServer, type GitServer } from '../helpers/git-server.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

const missing = gitHttpBackendMissing()
const UPDATES = 200
const MAX_PACKS = 5

/**
 * Every update adds a pack. Past maxPacks the source consolidates them into
 * one, locally; this drives 200 real upstream commits and fetches and checks
 * that the pack count and the cache size never grow past the bound, that no
 * update downloads the overlay again, and that native git finds the cache
 * sound throughout.
 */
describe.skipIf(missing !== null)('git cache stays bounded', () => {
  let root: string
  let server: GitServer
  beforeAll(async () => {
    root = await suiteDir()
    server = await startGitServer({ root })
  })
  afterAll(async () => {
    await server?.close()
    await removeDir(root)
  })

  it(`holds at most ${MAX_PACKS} packs over ${UPDATES} updates, and never downloads the overlay again`, { timeout: 240_000 }, async () => {
    const tree: TreeSpec = { 'profiles/repo_name': 'bound\n' }
    for (let i = 0; i < 50; i++) tree[`cat/p${i}/p${i}-1.ebuild`] = `EAPI=8\n# package ${i}\n`.repeat(20)
    await makeBareRepo(tree, path.join(root, 'bound.git'))
    const cacheDir = path.join(await testDir(), 'bound')
    const opts = { overlay: 'bound', url: `${server.url}/bound.git`, cacheDir, maxPacks: MAX_PACKS }
    const first = await fetchGitOverlay(opts)
    const firstSize = await packBytes(cacheDir)
    let maxSeen = 0
    let consolidated = 0
    let maxBytes = 0
    let last = ''
    for (let i = 0; i < UPDATES; i++) {
      const previous = last
      last = await commitChange(path.join(root, 'bound.git'), { [`cat/p${i % 50}/p${i % 50}-1.ebuild`]: `EAPI=8\n# rev ${i}\n` })
      const before = (await packNames(cacheDir)).length
      const fetched = await fetchGitOverlay(opts)
      expect(fetched.commit).toBe(last)
      maxBytes = Math.max(maxBytes, fetched.bytes)
      const after = (await packNames(cacheDir)).length
      if (after < before) {
        consolidated++
        // the commit before stays readable: the next sync's witness compares against it
        if (previous) expect((await (await openGitTree(cacheDir, 'bound', previous)).readDir('cat'))?.length).toBe(50)
        if (consolidated <= 2) await git(['--git-dir', cacheDir, 'fsck', '--full', '--no-dangling', '--strict'])
      }
      maxSeen = Math.max(maxSeen, after)
    }
    expect(maxSeen).toBe(MAX_PACKS)
    expect(consolidated).toBeGreaterThanOrEqual(Math.floor(UPDATES / MAX_PACKS) - 1)
    // an update is a thin pack of one changed file, never the whole overlay again
    expect(maxBytes).toBeLessThan(first.bytes / 4)
    expect(await packBytes(cacheDir)).toBeLessThan(firstSize * (MAX_PACKS + 1))
    expect((await readdir(path.dirname(cacheDir))).filter((n) => n !== 'bound')).toEqual([])
    expect((await readdir(cacheDir)).filter((n) => n.startsWith('olm-incoming-'))).toEqual([])
    expect((await git(['--git-dir', cacheDir, 'rev-parse', 'HEAD']))).toBe(last)
    await git(['--git-dir', cacheDir, 'fsck', '--full', '--no-dangling', '--strict'])
    const view = await openGitTree(cacheDir, 'bound')
    expect((await view.readFile(`cat/p${(UPDATES - 1) % 50}/p${(UPDATES - 1) % 50}-1.ebuild`))?.toString()).toBe(
      `EAPI=8\n# rev ${UPDATES - 1}\n`,
    )
  })

  it('downloads the overlay again when its packs cannot be merged, and stays bounded', async () => {
    const tree: TreeSpec = { 'profiles/repo_name': 'bound\n' }
    // incompressible, so a whole download and an update differ by far in bytes
    for (let i = 0; i < 20; i++) tree[`cat/p${i}/p${i}-1.ebuild`] = `EAPI=8\n# ${randomBytes(1024).toString('hex')}\n`
    const repo = path.join(root, 'unmergeable.git')
    await makeBareRepo(tree, repo)
    const cacheDir = path.join(await testDir(), 'unmergeable')
    const opts = { overlay: 'unmergeable', url: `${server.url}/unmergeable.git`, cacheDir, maxPacks: 2 }
    const first = await fetchGitOverlay(opts)
    await commitChange(repo, { 'cat/p1/p1-1.ebuild': 'EAPI=8\n# rev 1\n' })
    expect((await fetchGitOverlay(opts)).bytes).toBeLessThan(first.bytes / 4)
    // A name git add never writes, deep in the tree: the fetch (which reads the root tree back)
    // takes it, merging the packs (which walks every tree) refuses it.
    const hostile = await graftCommit(repo, [{ parts: ['cat', 'p2', '..'], mode: '100644', content: 'x\n' }])
    const fetched = await fetchGitOverlay(opts)
    expect(fetched.commit).toBe(hostile)
    expect(fetched.bytes).toBeGreaterThan(first.bytes / 2) // the whole overlay again
    expect(await packNames(cacheDir)).toHaveLength(1)
    expect((await readdir(path.dirname(cacheDir))).filter((n) => n !== 'unmergeable')).toEqual([])
    expect(await git(['--git-dir', cacheDir, 'rev-parse', 'HEAD'])).toBe(hostile)
  })
})

async function packNames(cacheDir: string): Promise<string[]> {
  return (await readdir(path.join(cacheDir, 'objects/pack'))).filter((n) => n.endsWith('.pack'))
}

async function packBytes(cacheDir: string): Promise<number> {
  let total = 0
  for (const n of await readdir(path.join(cacheDir, 'objects/pack'))) total += (await stat(path.join(cacheDir, 'objects/pack', n))).size
  return total
}
