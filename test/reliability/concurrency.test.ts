import { readFile, readdir, writeFile, mkdir, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { runOlm } from '../helpers/olm.js'
import { cloneRoot, configState, digestOf, makeRoot, publishMiniOverlay, publishedTree, spawnOlm } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/** Contract "One at a time": concurrent runs serialize on the lock in cache-dir. */
const missing = gitHttpBackendMissing()
let server: GitServer
let work: string
let template: string
const MANY = ['p1', 'p2', 'p3', 'p4', 'p5']

beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-conc-')
  await publishMiniOverlay(path.join(work, 'git/small.git'))
  await publishMiniOverlay(path.join(work, 'git/many.git'), {
    name: 'many',
    categories: ['app-misc'],
    ebuilds: Object.fromEntries(MANY.map((p) => [`app-misc/${p}-1`, { LICENSE: 'MIT' }])),
  })
  server = await startGitServer({ root: path.join(work, 'git') })
  template = path.join(work, 'template')
  await makeRoot(template, { serverUrl: server.url, overlays: { small: 'small.git', many: 'many.git' } })
  await mkdir(path.join(template, 'etc/overlayman/packages.d'), { recursive: true })
  await writeFile(path.join(template, 'etc/overlayman/packages.d/mine.conf'), 'app-misc/foo::small\n')
}, 60_000)
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
})

let n = 0
async function copy(): Promise<{ root: string; repo: string; lock: string }> {
  const root = path.join(work, `r${n++}`)
  await cloneRoot(template, root)
  return { root, repo: path.join(root, 'var/db/repos/overlayman'), lock: path.join(root, 'var/cache/overlayman/lock') }
}

const packPosts = () => server.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/git-upload-pack')).length

describe.skipIf(missing)('concurrent olm runs', () => {
  it('10 syncs and adds started at once serialize: one fetch, one publish, the state of one sync', async () => {
    const reference = await copy()
    const single = await runOlm(['add', 'dev-libs/bar::small', '--root', reference.root])
    expect([single.code, single.stderr]).toEqual([0, ''])
    const expected = digestOf((await publishedTree(reference.repo))!.files)

    const { root, repo, lock } = await copy()
    const config = await configState(root)
    server.resetCounters()
    const runs = Array.from({ length: 10 }, (_, i) =>
      spawnOlm(i % 2 ? ['sync', '--root', root] : ['add', 'dev-libs/bar::small', '--root', root]),
    )
    const results = await Promise.all(runs.map((r) => r.done))
    for (const r of results) expect([r.code, r.stderr.replace(/^waiting for pid .*\n/gm, '').replace(/^dev-libs\/bar::small is already requested\n/gm, '')]).toEqual([0, ''])
    // Only the first run to hold the lock downloaded a pack; the others found the cache current.
    expect(packPosts()).toBe(1)
    expect(results.filter((r) => /^waiting for pid \d+ \(olm (sync|add), since /m.test(r.stderr)).length).toBeGreaterThanOrEqual(1)
    // The end state is what one sync (plus the one recorded request) gives.
    expect(digestOf((await publishedTree(repo))!.files)).toBe(expected)
    const conf = await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8')
    expect(conf.match(/^dev-libs\/bar::small$/gm)).toHaveLength(1)
    const after = await configState(root)
    for (const f of ['overlayman/packages.d/olm.conf', 'portage/repos.conf/overlayman.conf']) {
      expect(await readFile(path.join(root, 'etc', f), 'utf8')).toBe(await readFile(path.join(reference.root, 'etc', f), 'utf8'))
      delete after[f]
    }
    expect(after).toEqual(config)
    expect((await readdir(path.join(root, 'var/db/repos/.overlayman.olm'))).filter((g) => !g.startsWith('g-'))).toEqual([])
    await expect(stat(lock)).rejects.toThrow()
  }, 120_000)

  it('a lock left by a killed olm is taken over', async () => {
    const { root, repo, lock } = await copy()
    // Kill olm while it holds the lock: at the fs call right after it created the lock file.
    const traceFile = path.join(work, `trace${n}`)
    const probe = await copy()
    expect((await spawnOlm(['sync', '--root', probe.root], { preload: true, env: { OLM_TEST_FS_TRACE: traceFile } }).done).code).toBe(0)
    const trace = (await readFile(traceFile, 'utf8')).split('\n')
    // The lock file is written beside the lock and hard-linked into place; kill right after.
    const lockCall = trace.findIndex((l) => / link .*\/var\/cache\/overlayman\/lock\.\d+\.[0-9a-f]+\.new$/.test(l))
    expect(lockCall).toBeGreaterThan(0)
    const killed = spawnOlm(['sync', '--root', root], { preload: true, env: { OLM_TEST_SIGKILL_AT_FS_CALL: String(lockCall + 3) } })
    expect((await killed.done).signal).toBe('SIGKILL')
    const holder = JSON.parse(await readFile(lock, 'utf8'))
    expect(holder).toMatchObject({ pid: killed.pid, host: os.hostname(), command: 'sync' })

    const started = Date.now()
    const next = await runOlm(['sync', '--root', root])
    expect([next.code, next.stderr]).toEqual([0, ''])
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(await publishedTree(repo)).not.toBeNull()
    await expect(stat(lock)).rejects.toThrow()
  }, 60_000)

  it('a waiting run says who holds the lock, and goes on when it is released', async () => {
    const { root, repo, lock } = await copy()
    await mkdir(path.dirname(lock), { recursive: true })
    // A live holder: this test process, as another olm would write itself.
    const ticks = (await readFile(`/proc/${process.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[19]
    const holder = { pid: process.pid, host: os.hostname(), command: 'sync --quiet', started: '2030-01-02T03:04:05.000Z', startTicks: ticks }
    await writeFile(lock, JSON.stringify(holder) + '\n')
    const waiting = spawnOlm(['sync', '--root', root])
    const deadline = Date.now() + 20_000
    while (!waiting.stderr().includes('waiting for') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(waiting.stderr()).toContain(`waiting for pid ${process.pid} (olm sync --quiet, since 2030-01-02T03:04:05.000Z) to finish`)
    await new Promise((r) => setTimeout(r, 500))
    expect(await publishedTree(repo)).toBeNull() // still waiting, nothing done
    await removeDir(lock)
    const r = await waiting.done
    expect(r.code).toBe(0)
    expect(await publishedTree(repo)).not.toBeNull()
  }, 60_000)
})

describe.skipIf(missing)('the lock in the generations directory', () => {
  /** A live holder (this test process, as another olm would write itself) of the lock in the generations directory. */
  async function holdPublishLock(root: string): Promise<string> {
    const lock = path.join(root, 'var/db/repos/.overlayman.olm/lock')
    const ticks = (await readFile(`/proc/${process.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[19]
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z', startTicks: ticks }) + '\n')
    return lock
  }

  it('holds back the publish of a run whose cache-dir lock is another (its cache-dir deleted, another configuration)', async () => {
    const { root, repo } = await copy()
    expect((await runOlm(['sync', '--root', root])).code).toBe(0)
    const before = await publishedTree(repo)
    const lock = await holdPublishLock(root)
    const waiting = spawnOlm(['add', 'dev-libs/bar::small', '--root', root])
    const deadline = Date.now() + 20_000
    while (!waiting.stderr().includes('waiting for') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(waiting.stderr()).toContain(`waiting for pid ${process.pid} (olm sync, since 2030-01-02T03:04:05.000Z) to finish`)
    await new Promise((r) => setTimeout(r, 300))
    expect(await publishedTree(repo)).toEqual(before) // nothing published while it is held
    await removeDir(lock)
    const r = await waiting.done
    expect([r.code, r.stderr.replace(/^waiting for pid .*\n/gm, '')]).toEqual([0, ''])
    expect([...(await publishedTree(repo))!.files.keys()].some((f) => f.startsWith('dev-libs/bar/'))).toBe(true)
    await expect(stat(lock)).rejects.toThrow() // released
  }, 60_000)

  it('is waited for before olm add records its request: stopped while waiting, it has changed nothing', async () => {
    const { root, repo } = await copy()
    expect((await runOlm(['sync', '--root', root])).code).toBe(0)
    const before = { tree: await publishedTree(repo), config: await configState(root) }
    await holdPublishLock(root)
    const waiting = spawnOlm(['add', 'dev-libs/bar::small', '--root', root])
    try {
      const deadline = Date.now() + 20_000
      while (!waiting.stderr().includes('waiting for') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(waiting.stderr()).toContain(`waiting for pid ${process.pid}`)
      process.kill(waiting.pid, 'SIGINT') // Ctrl-C
      await waiting.done
    } finally {
      waiting.kill() // should it still wait
    }
    expect(await configState(root)).toEqual(before.config)
    expect(await publishedTree(repo)).toEqual(before.tree)
  }, 60_000)

  it('is not taken by a sync that has nothing to write', async () => {
    const { root, repo } = await copy()
    expect((await runOlm(['sync', '--root', root])).code).toBe(0)
    // No witness: the sync resolves in full, and finds the plan it published.
    await removeDir(path.join(root, 'var/cache/overlayman/sync-witness.json'))
    const before = await publishedTree(repo)
    await holdPublishLock(root)
    const r = await runOlm(['sync', '--root', root])
    expect([r.code, r.stderr]).toEqual([0, ''])
    expect(await publishedTree(repo)).toEqual(before)
  }, 60_000)
})

describe.skipIf(missing)('concurrent olm add of different packages', () => {
  it('5 adds at once each keep their request, and the repository holds them all', async () => {
    const { root, repo } = await copy()
    const adds = MANY.map((p) => spawnOlm(['add', `app-misc/${p}::many`, '--root', root]))
    const results = await Promise.all(adds.map((r) => r.done))
    for (const r of results) expect([r.code, r.stderr.replace(/^waiting for pid .*\n/gm, '')]).toEqual([0, ''])
    // Every request is recorded once; the file written by one run was read by the next.
    const conf = await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8')
    expect(conf.split('\n').filter((l) => l.includes('::many')).sort()).toEqual(MANY.map((p) => `app-misc/${p}::many`))
    const prov = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
    expect(prov.packages.filter((p: { requested: boolean }) => p.requested).map((p: { package: string }) => p.package).sort()).toEqual(['app-misc/foo', ...MANY.map((p) => `app-misc/${p}`)])
  }, 60_000)
})
