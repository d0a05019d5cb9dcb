import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openGitTree } from '../../src/overlay/git-tree.js'
import { encodeReads, loggingTree, OverlayReadLog, overlayReadsUnchanged } from '../../src/overlay/read-log.js'
import type { OverlayTree } from '../../src/overlay/tree.js'
import { buildPlan } from '../../src/repo/plan.js'
import type { Closure } from '../../src/resolve/closure-types.js'
import { parseVersion } from '../../src/pms/version.js'
import { commitChange, type FileSpec, makeBareRepo } from '../helpers/bare-repo.js'
import { testDir } from '../helpers/tmp.js'

/**
 * What a sync's plan logs of a git overlay decides whether the next sync may
 * keep the repository: every byte and mode of a copied package must be in it.
 */
const files: Record<string, FileSpec> = {
  'app-misc/foo/foo-1.ebuild': 'EAPI=8\n',
  'app-misc/foo/Manifest': 'DIST foo-1.tar.gz 1 BLAKE2B 00\n',
  'app-misc/foo/files/run.sh': { content: 'echo\n', executable: true },
  'app-misc/foo/files/sub/deep.patch': '--- a\n+++ b\n',
  'app-misc/other/other-1.ebuild': 'EAPI=8\n',
  'metadata/md5-cache/app-misc/foo-1': 'EAPI=8\n_md5_=0\n',
}

const closure = (commit: string): Closure => ({
  packages: [
    {
      cp: 'app-misc/foo',
      category: 'app-misc',
      pn: 'foo',
      overlay: 'ov',
      commit,
      requested: true,
      ebuilds: [
        {
          ebuild: { overlay: 'ov', category: 'app-misc', pn: 'foo', pvr: '1', version: parseVersion('1'), relPath: 'app-misc/foo/foo-1.ebuild' },
          metadata: { entry: { keys: new Map(), eclasses: [] } as never, origin: 'md5-cache', slot: '0', subSlot: '', eclasses: [] },
        },
      ],
      reasons: [],
      chain: [],
    },
  ],
  eclasses: [],
  licenses: [],
  masks: [],
  licenseGroups: [],
  mirrors: [],
  categories: ['app-misc'],
  categoryMetadata: [],
  masters: [],
  unsatisfied: [],
  warnings: [],
})

async function planned(wrap: (tree: OverlayTree) => OverlayTree = (t) => t) {
  const bare = path.join(await testDir(), 'ov.git')
  const commit = await makeBareRepo(files, bare)
  const log = new OverlayReadLog()
  const tree = await openGitTree(bare, 'ov', commit)
  await buildPlan(closure(commit), { repoName: 'overlayman', trees: new Map([['ov', wrap(loggingTree(tree, log))]]) })
  return { bare, tree, reads: log.reads() }
}

describe('what a plan logs of a copied package', () => {
  it('is its directories listed with their files ids, not each file looked up', async () => {
    const { reads } = await planned()
    expect(reads.filter(([kind]) => kind === 'files').map(([, p]) => p)).toEqual(['app-misc/foo', 'app-misc/foo/files', 'app-misc/foo/files/sub'])
    expect(reads.filter(([kind, p]) => kind === 'entry' && p.startsWith('app-misc/foo/'))).toEqual([])
  })

  it('is each file looked up when the tree does not pass the listing with ids on', async () => {
    // A wrapper around the logging tree that forwards only what every tree has.
    const plain = (t: OverlayTree): OverlayTree => ({ overlay: t.overlay, commit: t.commit, readDir: t.readDir, readFile: t.readFile, readLink: t.readLink, entry: t.entry })
    const { reads } = await planned(plain)
    const looked = reads.filter(([kind]) => kind === 'entry').map(([, p]) => p)
    expect(looked).toEqual(expect.arrayContaining(['app-misc/foo/Manifest', 'app-misc/foo/files/run.sh', 'app-misc/foo/files/sub/deep.patch']))
  })

  it.each<[string, Record<string, FileSpec | null>, boolean]>([
    ['a file deep in files/ edited', { 'app-misc/foo/files/sub/deep.patch': '--- a\n+++ c\n' }, false],
    ['a file made executable', { 'app-misc/foo/Manifest': { content: 'DIST foo-1.tar.gz 1 BLAKE2B 00\n', executable: true } }, false],
    ['a file made a symlink', { 'app-misc/foo/files/run.sh': { symlink: 'sub/deep.patch' } }, false],
    ['a file added', { 'app-misc/foo/files/new.patch': 'new\n' }, false],
    ['another package edited', { 'app-misc/other/other-1.ebuild': 'EAPI=8\n# edited\n' }, true],
  ])('notices %s, with and without the tree it was logged at', async (_what, change, same) => {
    const { bare, tree, reads } = await planned()
    const encoded = encodeReads(reads)
    const next = await openGitTree(bare, 'ov', await commitChange(bare, change))
    expect(await overlayReadsUnchanged(next, encoded)).toBe(same)
    expect(await overlayReadsUnchanged(next, encoded, tree)).toBe(same)
  })
})
