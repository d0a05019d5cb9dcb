import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isOlmError } from '../../src/errors.js'
import { cachedCommit, fetchGitOverlay, openGitTree, type GitSourceOptions } from '../../src/overlay/git.js'
import { commitChange, git, makeBareRepo, type TreeSpec } from '../helpers/bare-repo.js'
import { gitHttpBackendMissing, startGitServer, type Fault, type GitServer } from '../helpers/git-server.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

const missing = gitHttpBackendMissing()
if (missing) console.warn(`skipping git source tests: ${missing}`)

/** Text that compresses like real ebuilds but differs per seed, so packs have some size. */
function ebuild(seed: string, lines = 40): string {
  const words = randomBytes(lines * 8).toString('hex')
  return Array.from({ length: lines }, (_, i) => `# ${seed} line ${i} ${words.slice(i * 16, i * 16 + 16)}`).join('\n') + '\n'
}

function overlayTree(files = 30): TreeSpec {
  const tree: TreeSpec = {
    'profiles/repo_name': 'testov\n',
    'metadata/layout.conf': 'masters = gentoo\n',
    'app-misc/foo/foo-1.ebuild': 'EAPI=8\nDESCRIPTION="foo"\n',
    'app-misc/foo/files/run.sh': { content: '#!/bin/sh\necho hi\n', executable: true },
    'app-misc/foo/files/link.sh': { symlink: 'run.sh' },
  }
  for (let i = 0; i < files; i++) tree[`dev-util/pkg${i}/pkg${i}-1.ebuild`] = ebuild(`pkg${i}`)
  return tree
}

async function fsck(cacheDir: string): Promise<string> {
  return git(['--git-dir', cacheDir, 'fsck', '--full', '--no-dangling', '--strict'])
}

async function packCount(cacheDir: string): Promise<number> {
  return (await readdir(path.join(cacheDir, 'objects/pack'))).filter((n) => n.endsWith('.pack')).length
}

describe.skipIf(missing !== null)('git source over loopback smart HTTP', () => {
  let root: string
  let server: GitServer
  let repoCount = 0

  beforeAll(async () => {
    root = await suiteDir()
    server = await startGitServer({ root })
  })
  afterAll(async () => {
    await server?.close()
    await removeDir(root)
  })

  /** A fresh upstream repo per test (tests change upstream) and options for a fresh cache. */
  async function setup(tree: TreeSpec = overlayTree()) {
    const name = `ov${repoCount++}.git`
    const repoDir = path.join(root, name)
    const first = await makeBareRepo(tree, repoDir)
    const cacheDir = path.join(await testDir(), 'cache', 'testov')
    const opts: GitSourceOptions = { overlay: 'testov', url: `${server.url}/${name}`, cacheDir, timeoutMs: 2000 }
    return { repoDir, first, cacheDir, opts, packPath: `/${name}/git-upload-pack`, refsPath: `/${name}/info/refs` }
  }

  it('first fetch makes a bare shallow cache that native git accepts', async () => {
    const { first, cacheDir, opts } = await setup()
    const phases = new Set<string>()
    const res = await fetchGitOverlay({ ...opts, onProgress: (e) => phases.add(e.phase) })
    expect(res).toMatchObject({ commit: first, changed: true })
    expect(res.bytes).toBeGreaterThan(1000)
    expect(phases).toEqual(new Set(['receiving', 'indexing']))
    expect(await cachedCommit(cacheDir)).toBe(first)
    await fsck(cacheDir)
    expect(await git(['--git-dir', cacheDir, 'rev-parse', 'HEAD'])).toBe(first)
    expect((await git(['--git-dir', cacheDir, 'rev-parse', '--is-shallow-repository']))).toBe('true')
  })

  it('openGitTree reads directories, files, modes and symlinks', async () => {
    const { cacheDir, opts, first } = await setup()
    await fetchGitOverlay(opts)
    const tree = await openGitTree(cacheDir, 'testov')
    expect(tree.commit).toBe(first)
    // ids as native git names the objects: known without reading them (a directory's is its tree)
    const id = async (rel: string) => `git:${await git(['--git-dir', cacheDir, 'rev-parse', `HEAD:${rel}`])}`
    expect(await tree.readDir('')).toEqual([
      { name: 'app-misc', type: 'dir', executable: false, id: await id('app-misc') },
      { name: 'dev-util', type: 'dir', executable: false, id: await id('dev-util') },
      { name: 'metadata', type: 'dir', executable: false, id: await id('metadata') },
      { name: 'profiles', type: 'dir', executable: false, id: await id('profiles') },
    ])
    expect(await tree.readDir('app-misc/foo/files')).toEqual([
      { name: 'link.sh', type: 'symlink', executable: false },
      { name: 'run.sh', type: 'file', executable: true, id: await id('app-misc/foo/files/run.sh') },
    ])
    expect((await tree.readFile('profiles/repo_name'))?.toString()).toBe('testov\n')
    expect(await tree.readLink('app-misc/foo/files/link.sh')).toBe('run.sh')
    expect(await tree.readFile('app-misc/foo/files/link.sh')).toBeNull()
    expect(await tree.readLink('app-misc/foo/files/run.sh')).toBeNull()
    expect(await tree.readFile('app-misc')).toBeNull()
    expect(await tree.readDir('profiles/repo_name')).toBeNull()
    expect(await tree.readFile('no/such/file')).toBeNull()
    expect(await tree.readDir('no/such')).toBeNull()
  })

  it('reports gitlinks as other', async () => {
    const { repoDir, cacheDir, opts } = await setup()
    const tree = await git(['--git-dir', repoDir, 'rev-parse', 'main^{tree}'])
    const listing = await git(['--git-dir', repoDir, 'ls-tree', tree])
    const withLink = await git(['--git-dir', repoDir, 'mktree'], {
      input: `${listing}\n160000 commit ${'1'.repeat(40)}\tvendored\n`,
    })
    const commit = await git(['--git-dir', repoDir, 'commit-tree', withLink, '-m', 'gitlink'])
    await git(['--git-dir', repoDir, 'update-ref', 'refs/heads/main', commit])
    await fetchGitOverlay(opts)
    const entries = await (await openGitTree(cacheDir, 'testov')).readDir('')
    expect(entries?.find((e) => e.name === 'vendored')).toEqual({ name: 'vendored', type: 'other', executable: false })
  })

  it('downloads no pack when the branch has not moved', async () => {
    const { first, cacheDir, opts } = await setup()
    await fetchGitOverlay(opts)
    server.resetCounters()
    const res = await fetchGitOverlay(opts)
    expect(res).toMatchObject({ commit: first, changed: false })
    expect(server.requests().map((r) => `${r.method} ${path.basename(r.path)}`)).toEqual(['GET refs'])
    expect(res.bytes).toBe(server.bytesSent())
    expect(res.bytes).toBeLessThan(1000)
    expect(await packCount(cacheDir)).toBe(1)
  })

  it('an update downloads a small thin pack and leaves a self-contained, fsck-clean cache', async () => {
    const { repoDir, first, cacheDir, opts } = await setup(overlayTree(200))
    const firstFetch = await fetchGitOverlay(opts)
    const big = (await git(['--git-dir', repoDir, 'show', 'main:dev-util/pkg7/pkg7-1.ebuild'])) + '\n'
    const second = await commitChange(repoDir, {
      'dev-util/pkg7/pkg7-1.ebuild': big.replace('line 3 ', 'line three '),
      'dev-util/pkg7/pkg7-2.ebuild': big,
      'app-misc/foo/foo-1.ebuild': null,
    })
    const res = await fetchGitOverlay(opts)
    expect(res).toMatchObject({ commit: second, changed: true })
    expect(res.bytes).toBeLessThan(firstFetch.bytes / 10)
    await fsck(cacheDir)
    expect(await git(['--git-dir', cacheDir, 'rev-parse', 'refs/heads/main'])).toBe(second)
    const now = await openGitTree(cacheDir, 'testov')
    expect((await now.readFile('dev-util/pkg7/pkg7-1.ebuild'))?.toString()).toContain('line three ')
    expect(await now.readFile('app-misc/foo/foo-1.ebuild')).toBeNull()
    // The old blob is in no new tree: only the thin-pack completion puts it into the new pack.
    const oldBlob = await git(['--git-dir', repoDir, 'rev-parse', `${first}:dev-util/pkg7/pkg7-1.ebuild`])
    const newest = (await readdir(path.join(cacheDir, 'objects/pack'))).filter((n) => n.endsWith('.idx'))
    const listings = await Promise.all(
      newest.map((n) => git(['verify-pack', '-v', path.join(cacheDir, 'objects/pack', n)])),
    )
    expect(listings.filter((l) => l.includes(oldBlob))).toHaveLength(2)
    const before = await openGitTree(cacheDir, 'testov', first)
    expect(await before.readFile('app-misc/foo/foo-1.ebuild')).not.toBeNull()
  })

  it('follows an explicit branch and names a missing one', async () => {
    const { repoDir, cacheDir, opts } = await setup()
    const side = await commitChange(repoDir, { 'side.txt': 'side\n' }, 'side', 'main')
    await git(['--git-dir', repoDir, 'branch', 'stable', side])
    expect((await fetchGitOverlay({ ...opts, branch: 'stable' })).commit).toBe(side)
    expect(await git(['--git-dir', cacheDir, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/stable')
    const err = await fetchGitOverlay({ ...opts, branch: 'nope' }).catch((e: unknown) => e)
    expect(isOlmError(err, 'REF_NOT_FOUND')).toBe(true)
    expect((err as Error).message).toContain("'nope'")
  })

  const faults: Array<[string, 'refs' | 'pack', Fault | 'down', string]> = [
    ['server down', 'refs', 'down', 'SOURCE_UNREACHABLE'],
    ['404 on the ref advertisement', 'refs', { kind: 'status', status: 404 }, 'SOURCE_UNREACHABLE'],
    ['500 on the ref advertisement', 'refs', { kind: 'status', status: 500 }, 'SOURCE_UNREACHABLE'],
    ['500 on upload-pack', 'pack', { kind: 'status', status: 500 }, 'FETCH_FAILED'],
    ['connection reset mid-pack', 'pack', { kind: 'reset', afterBytes: 3000 }, 'FETCH_FAILED'],
    ['truncation at a pkt-line boundary', 'pack', { kind: 'truncate', afterBytes: 3000 }, 'FETCH_FAILED'],
    ['stall after headers', 'pack', { kind: 'stall' }, 'FETCH_FAILED'],
    ['stall mid-pack', 'pack', { kind: 'stall', afterBytes: 3000 }, 'FETCH_FAILED'],
    ['stall on the ref advertisement', 'refs', { kind: 'stall' }, 'SOURCE_UNREACHABLE'],
    ['corrupt pack byte', 'pack', { kind: 'corrupt', afterBytes: 3000 }, 'FETCH_FAILED'],
  ]

  it.each(faults)('%s: clear error, previous cache intact, next fetch recovers', async (_, where, fault, code) => {
    const { repoDir, first, cacheDir, opts, packPath, refsPath } = await setup(overlayTree(40))
    await fetchGitOverlay(opts)
    const changes: Record<string, string> = {}
    for (let i = 0; i < 40; i++) changes[`dev-util/new${i}/new${i}-1.ebuild`] = ebuild(`new${i}`)
    const second = await commitChange(repoDir, changes)
    const prefix = where === 'refs' ? refsPath : packPath
    let url = opts.url
    if (fault === 'down') url = await deadUrl()
    else server.setFault(prefix, fault)
    const started = Date.now()
    const err = await fetchGitOverlay({ ...opts, url }).catch((e: unknown) => e)
    server.setFault(prefix, null)
    expect(isOlmError(err)).toBe(true)
    expect((err as { code: string }).code).toBe(code)
    expect((err as Error).message).toContain("'testov'")
    expect((err as Error).message).toContain(url)
    expect((err as { context: object }).context).toEqual({ overlay: 'testov', url })
    expect(Date.now() - started).toBeLessThan(10_000)
    await expectIntact(cacheDir, first)
    expect((await fetchGitOverlay(opts)).commit).toBe(second)
    await fsck(cacheDir)
  })

  it('cancels through the AbortSignal and keeps the cache', async () => {
    const { repoDir, first, cacheDir, opts, packPath } = await setup()
    await fetchGitOverlay(opts)
    await commitChange(repoDir, { 'x.txt': 'x\n' })
    server.setFault(packPath, { kind: 'stall' })
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 200)
    const err = await fetchGitOverlay({ ...opts, timeoutMs: 30_000, signal: ac.signal }).catch((e: unknown) => e)
    server.setFault(packPath, null)
    expect(isOlmError(err, 'FETCH_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/cancel/)
    await expectIntact(cacheDir, first)
  })

  it('a first fetch that fails leaves no commit behind', async () => {
    const { cacheDir, opts, packPath } = await setup()
    server.setFault(packPath, { kind: 'truncate', afterBytes: 500 })
    const err = await fetchGitOverlay(opts).catch((e: unknown) => e)
    server.setFault(packPath, null)
    expect(isOlmError(err, 'FETCH_FAILED')).toBe(true)
    expect(await cachedCommit(cacheDir)).toBeNull()
    expect(await packCount(cacheDir)).toBe(0)
  })

  async function expectIntact(cacheDir: string, commit: string) {
    expect(await cachedCommit(cacheDir)).toBe(commit)
    expect(await packCount(cacheDir)).toBe(1)
    expect((await readdir(path.join(cacheDir, 'objects/pack'))).filter((n) => n.includes('tmp'))).toEqual([])
    await fsck(cacheDir)
    const tree = await openGitTree(cacheDir, 'testov')
    expect(tree.commit).toBe(commit)
    expect((await tree.readFile('profiles/repo_name'))?.toString()).toBe('testov\n')
  }

  async function deadUrl(): Promise<string> {
    const dead = await startGitServer({ root })
    await dead.close()
    return `${dead.url}/gone.git`
  }
})
