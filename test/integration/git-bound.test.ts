import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchGitOverlay, openGitTree } from '../../src/overlay/git.js'
import { commitChange, git, makeBareRepo, type TreeSpec } from '../helpers/bare-repo.js'
import { gitHttpBackendMissing, startGitServer, type GitServer } from '../helpers/git-server.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

const missing = gitHttpBackendMissing()
const UPDATES = 200
const MAX_PACKS = 5

/**
 * isomorphic-git never repacks, so every update adds a pack. The source
 * re-clones once maxPacks is reached; this drives 200 real upstream commits
 * and fetches and checks the pack count and the cache size never grow past it.
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

  it(`holds at most ${MAX_PACKS} packs over ${UPDATES} updates`, { timeout: 240_000 }, async () => {
    const tree: TreeSpec = { 'profiles/repo_name': 'bound\n' }
    for (let i = 0; i < 50; i++) tree[`cat/p${i}/p${i}-1.ebuild`] = `EAPI=8\n# package ${i}\n`.repeat(20)
    await makeBareRepo(tree, path.join(root, 'bound.git'))
    const cacheDir = path.join(await testDir(), 'bound')
    const opts = { overlay: 'bound', url: `${server.url}/bound.git`, cacheDir, maxPacks: MAX_PACKS }
    await fetchGitOverlay(opts)
    const firstSize = await packBytes(cacheDir)
    let maxSeen = 0
    let recloned = 0
    let last = ''
    for (let i = 0; i < UPDATES; i++) {
      last = await commitChange(path.join(root, 'bound.git'), { [`cat/p${i % 50}/p${i % 50}-1.ebuild`]: `EAPI=8\n# rev ${i}\n` })
      const before = (await packNames(cacheDir)).length
      expect((await fetchGitOverlay(opts)).commit).toBe(last)
      const after = (await packNames(cacheDir)).length
      if (after < before) recloned++
      maxSeen = Math.max(maxSeen, after)
    }
    expect(maxSeen).toBe(MAX_PACKS)
    expect(recloned).toBeGreaterThanOrEqual(Math.floor(UPDATES / MAX_PACKS) - 1)
    expect(await packBytes(cacheDir)).toBeLessThan(firstSize * (MAX_PACKS + 1))
    expect((await readdir(path.dirname(cacheDir))).filter((n) => n !== 'bound')).toEqual([])
    expect((await git(['--git-dir', cacheDir, 'rev-parse', 'HEAD']))).toBe(last)
    await git(['--git-dir', cacheDir, 'fsck', '--full', '--no-dangling', '--strict'])
    const view = await openGitTree(cacheDir, 'bound')
    expect((await view.readFile(`cat/p${(UPDATES - 1) % 50}/p${(UPDATES - 1) % 50}-1.ebuild`))?.toString()).toBe(
      `EAPI=8\n# rev ${UPDATES - 1}\n`,
    )
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
