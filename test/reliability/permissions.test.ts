import { lstat, readdir, readFile, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { snapshotTree } from '../helpers/olm.js'
import { makeRoot, publishMiniOverlay, smallOverlayUpdate, spawnOlm } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * Contract "Least surprise for portage": the generated repository is readable
 * by everyone (the portage user), 0755 directories, 0644/0755 files, nothing
 * world-writable, setuid or setgid, whatever umask olm runs under; the
 * repos.conf entry is 0644; as root, everything is owned by root.
 */
const missing = gitHttpBackendMissing()
let server: GitServer
let work: string

beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-perms-')
  await publishMiniOverlay(path.join(work, 'git/small.git'))
  await smallOverlayUpdate(path.join(work, 'git/small.git')) // adds an executable and a symlink
  server = await startGitServer({ root: path.join(work, 'git') })
})
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
})

describe.skipIf(missing).concurrent('modes and ownership of what olm writes', () => {
  it.each(['077', '000', '022', '027'])('under umask %s', async (umask) => {
    const root = path.join(work, `root${umask}`)
    await makeRoot(root, { serverUrl: server.url, overlays: { small: 'small.git' } })
    await mkdir(path.join(root, 'etc/overlayman/packages.d'), { recursive: true })
    await writeFile(path.join(root, 'etc/overlayman/packages.d/mine.conf'), 'app-misc/foo::small\n')
    const r = await spawnOlm(['add', 'dev-libs/bar::small', '--root', root], { umask }).done
    expect([r.code, r.stderr]).toEqual([0, ''])

    const repos = path.join(root, 'var/db/repos')
    const gens = path.join(repos, '.overlayman.olm')
    expect((await lstat(gens)).mode & 0o7777).toBe(0o755)
    const [gen] = (await readdir(gens)).filter((g) => g.startsWith('g-'))
    const tree = await snapshotTree(path.join(gens, gen!))
    expect(tree.size).toBeGreaterThan(10)
    expect((await lstat(path.join(gens, gen!))).mode & 0o7777).toBe(0o755)
    const executables = []
    for (const [rel, e] of tree) {
      if (e.type === 'dir') expect([rel, e.mode]).toEqual([rel, 0o755])
      else if (e.type === 'file') expect([rel, [0o644, 0o755].includes(e.mode)]).toEqual([rel, true])
      else expect([rel, e.type]).toEqual([rel, 'symlink'])
      if (e.type === 'file' && e.mode === 0o755) executables.push(rel)
    }
    expect(executables).toEqual(['app-misc/foo/files/run.sh'])
    expect(tree.get('app-misc/foo/files/run-link.sh')).toMatchObject({ type: 'symlink', content: 'run.sh' })
    // the repos.conf entry and the request olm recorded
    expect((await lstat(path.join(root, 'etc/portage/repos.conf/overlayman.conf'))).mode & 0o7777).toBe(0o644)
    expect((await lstat(path.join(root, 'etc/overlayman/packages.d/olm.conf'))).mode & 0o7777).toBe(0o644)
    // owned by whoever runs olm: root on a real system (and here, when the suite runs as root)
    const uid = process.getuid!()
    for (const rel of ['', ...tree.keys()]) expect([rel, (await lstat(path.join(gens, gen!, rel))).uid]).toEqual([rel, uid])
    expect((await lstat(path.join(root, 'etc/portage/repos.conf/overlayman.conf'))).uid).toBe(uid)
    // nothing world-writable anywhere olm wrote, the cache included
    for (const dir of [gens, path.join(root, 'var/cache/overlayman')])
      for (const [rel, e] of await snapshotTree(dir)) if (e.type !== 'symlink') expect([dir, rel, e.mode & 0o7002]).toEqual([dir, rel, 0])
  })

  it('under umask 077, a generation recycled and patched (a small patch: fsynced file by file)', async () => {
    const root = path.join(work, 'root-recycled')
    await makeRoot(root, { serverUrl: server.url, overlays: { small: 'small.git' } })
    // three publishes: the third patches the first, a small patch made durable by fsyncs
    for (const args of [['add', 'dev-libs/bar::small'], ['add', 'app-misc/foo::small'], ['remove', 'dev-libs/bar::small']]) {
      const r = await spawnOlm([...args, '--root', root], { umask: '077' }).done
      expect([args, r.code, r.stderr]).toEqual([args, 0, ''])
    }
    const tree = await snapshotTree(path.join(root, 'var/db/repos/overlayman/'))
    // bar stays, pulled by foo now: the provenance file is new, and foo's files come from the second generation
    expect([...tree.keys()].filter((k) => /^(app-misc|dev-libs)\/[^/]+$/.test(k))).toEqual(['app-misc/foo', 'dev-libs/bar'])
    expect(await readFile(path.join(root, 'var/db/repos/overlayman/metadata/overlayman.json'), 'utf8')).toMatch(/"dev-libs\/bar"[^}]*"requested": false/)
    for (const [rel, e] of tree) {
      if (e.type === 'dir') expect([rel, e.mode]).toEqual([rel, 0o755])
      else if (e.type === 'file') expect([rel, e.mode]).toEqual([rel, rel === 'app-misc/foo/files/run.sh' ? 0o755 : 0o644])
    }
  })
})
