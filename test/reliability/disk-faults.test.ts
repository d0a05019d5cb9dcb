import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import pLimit from 'p-limit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { runOlm } from '../helpers/olm.js'
import { cloneRoot, configState, digestOf, makeRoot, publishMiniOverlay, publishedTree, smallOverlayUpdate, spawnOlm } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * Contract "Atomic" under a full or failing disk: ENOSPC or EIO injected at
 * the nth writing fs call of a whole olm run (the kill hook's fault mode),
 * outside the cache. Every run fails cleanly (exit 1, the errno named, no
 * internal error), leaves the old repository or the new one whole, leaves no
 * half-written config file, and the next run succeeds and leaves no debris.
 */
const missing = gitHttpBackendMissing()
let server: GitServer
let work: string
let template: string
const expected = { old: '', new: '' }

beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-disk-')
  await publishMiniOverlay(path.join(work, 'git/small.git'))
  server = await startGitServer({ root: path.join(work, 'git') })
  template = path.join(work, 'template')
  const { repo } = await makeRoot(template, { serverUrl: server.url, overlays: { small: 'small.git' } })
  await mkdir(path.join(template, 'etc/overlayman/packages.d'), { recursive: true })
  await writeFile(path.join(template, 'etc/overlayman/packages.d/mine.conf'), 'app-misc/foo::small\n')
  expect((await runOlm(['sync', '--root', template])).code).toBe(0)
  expected.old = digestOf((await publishedTree(repo))!.files)
  // The next sync must also write the repos.conf entry again.
  await rm(path.join(template, 'etc/portage/repos.conf/overlayman.conf'))
  await smallOverlayUpdate(path.join(work, 'git/small.git'))
  const probe = path.join(work, 'probe')
  await cloneRoot(template, probe)
  expect((await runOlm(['sync', '--root', probe])).code).toBe(0)
  expected.new = digestOf((await publishedTree(path.join(probe, 'var/db/repos/overlayman')))!.files)
}, 60_000)
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
})

let n = 0
async function writesOf(args: string[]): Promise<number> {
  const root = path.join(work, `count${n++}`)
  await cloneRoot(template, root)
  const r = await spawnOlm([...args, '--root', root], { preload: true, env: { OLM_TEST_COUNT_WRITES: '1', OLM_TEST_FAIL_OUTSIDE: path.join(root, 'var/cache') } }).done
  expect(r.code).toBe(0)
  return Number(/olm-test-writes (\d+)/.exec(r.stderr)![1])
}

function spread(total: number, count: number): number[] {
  if (total <= count) return Array.from({ length: total }, (_, i) => i + 1)
  return [...new Set(Array.from({ length: count }, (_, k) => 1 + Math.round((k * (total - 1)) / (count - 1))))]
}

/** Files olm leaves only while it works: staging dirs, temp links, temp config files. */
async function debris(root: string): Promise<string[]> {
  const found: string[] = []
  for (const dir of ['var/db/repos', 'var/db/repos/.overlayman.olm', 'etc/portage/repos.conf', 'etc/overlayman/packages.d']) {
    const names = await readdir(path.join(root, dir)).catch(() => [] as string[])
    found.push(...names.filter((x) => /^\.stage-|\.link-|\.olm-\d+$/.test(x)).map((x) => `${dir}/${x}`))
  }
  return found
}

async function faultOnce(args: string[], at: number, code: string) {
  const root = path.join(work, `r${n++}`)
  await cloneRoot(template, root)
  const repo = path.join(root, 'var/db/repos/overlayman')
  const config = await configState(root)
  const r = await spawnOlm([...args, '--root', root], {
    preload: true,
    env: { OLM_TEST_FAIL_AT_WRITE: `${at}:${code}`, OLM_TEST_FAIL_OUTSIDE: path.join(root, 'var/cache') },
  }).done
  const point = `${args[0]} write ${at} ${code}`
  const seen = digestOf((await publishedTree(repo))!.files)
  expect([point, r.stderr.includes(code), r.stderr.includes('internal error') ? r.stderr : false]).toEqual([point, true, false])
  // Exit 1 (nothing changed), or exit 0 when the fault came after the new generation went live.
  expect([point, r.code]).toEqual([point, r.code === 0 && seen === expected.new && /could not (sync its directory|remove the lock)/.test(r.stderr) ? 0 : 1])
  expect([point, seen === expected.old || seen === expected.new]).toEqual([point, true])
  // Exit 1 with the new generation live: only when what failed is the repos.conf entry (portage
  // would not see the repository: a failure, though the repository changed).
  if (r.code === 1 && seen === expected.new && seen !== expected.old) expect([point, r.stderr]).toEqual([point, expect.stringMatching(/repos\.conf/)])
  // Config files are unchanged, or (the repos.conf entry, the request) whole.
  const after = await configState(root)
  for (const [rel, state] of Object.entries(after)) if (config[rel] !== state) expect([point, rel]).toSatisfy(() => /overlayman\.conf$|olm\.conf$/.test(rel))
  return { root, repo, point, seen }
}

describe.skipIf(missing)('ENOSPC and EIO at the nth write', () => {
  it('of olm sync: old or new repository, config whole, next sync fine, no debris', async () => {
    const total = await writesOf(['sync'])
    expect(total).toBeGreaterThan(20)
    // spread over the run, plus every one of the last writes (the swap and what follows it)
    const points = [...new Set([...spread(total - 10, 28), ...Array.from({ length: 10 }, (_, i) => total - 9 + i)])]
    const limit = pLimit(2)
    const outcomes = await Promise.all(points.map((at, i) => limit(async () => {
      const { root, repo, point, seen } = await faultOnce(['sync'], at, i % 2 ? 'EIO' : 'ENOSPC')
      const entry = await readFile(path.join(root, 'etc/portage/repos.conf/overlayman.conf'), 'utf8').catch(() => null)
      if (entry !== null) expect([point, entry]).toEqual([point, expect.stringContaining('[overlayman]\nlocation = /var/db/repos/overlayman\n')])
      const next = await runOlm(['sync', '--root', root])
      expect([point, next.code, next.stderr]).toEqual([point, 0, ''])
      expect(digestOf((await publishedTree(repo))!.files)).toBe(expected.new)
      expect([point, await debris(root)]).toEqual([point, []])
      await removeDir(root)
      return seen
    })))
    console.log(`disk faults (sync): ${outcomes.length} of ${total} writes faulted; old kept ${outcomes.filter((s) => s === expected.old).length}, new whole ${outcomes.filter((s) => s === expected.new).length}`)
  }, 180_000)

  it('of olm add --no-sync: the request file is old or whole, never half', async () => {
    const total = await writesOf(['add', '--no-sync', 'dev-libs/bar::small'])
    const points = spread(total, 12)
    for (const [i, at] of points.entries()) {
      const { root, point } = await faultOnce(['add', '--no-sync', 'dev-libs/bar::small'], at, i % 2 ? 'EIO' : 'ENOSPC')
      const text = await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8').catch(() => null)
      if (text !== null) expect([point, text]).toEqual([point, expect.stringMatching(/^# Packages added with `olm add`.*\ndev-libs\/bar::small\n$/s)])
      expect([point, await debris(root)]).toEqual([point, []])
      await removeDir(root)
    }
  }, 60_000)

  it('of olm add: the request stays recorded only when the repository that holds it was published', async () => {
    const args = ['add', 'dev-libs/bar::small']
    const total = await writesOf(args)
    for (const [i, at] of spread(total, 12).entries()) {
      const root = path.join(work, `add${n++}`)
      await cloneRoot(template, root)
      const code = i % 2 ? 'EIO' : 'ENOSPC'
      const r = await spawnOlm([...args, '--root', root], {
        preload: true,
        env: { OLM_TEST_FAIL_AT_WRITE: `${at}:${code}`, OLM_TEST_FAIL_OUTSIDE: path.join(root, 'var/cache') },
      }).done
      const point = `add write ${at} ${code}`
      // exit 0 only when the fault came after the new generation went live (a warning says so)
      expect([point, r.code]).toEqual([point, r.code === 0 && /could not (sync its directory|remove the lock)/.test(r.stderr) ? 0 : 1])
      const recorded = ((await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8').catch(() => '')) as string).includes('dev-libs/bar::small')
      const prov = JSON.parse(await readFile(path.join(root, 'var/db/repos/overlayman/metadata/overlayman.json'), 'utf8'))
      const published = prov.packages.some((p: { package: string; requested: boolean }) => p.package === 'dev-libs/bar' && p.requested)
      expect([point, recorded]).toEqual([point, published])
      expect([point, await debris(root)]).toEqual([point, []])
      await removeDir(root)
    }
  }, 90_000)
})

describe.skipIf(missing)('a location olm cannot write', () => {
  it('says which repository it could not write, with exit 1, and records no request', async () => {
    const root = path.join(work, `r${n++}`)
    await cloneRoot(template, root)
    await mkdir(path.join(root, 'var/db/repos'), { recursive: true })
    await writeFile(path.join(root, 'var/db/repos/afile'), 'not a directory\n')
    const conf = path.join(root, 'etc/overlayman/overlayman.conf')
    await writeFile(conf, `${await readFile(conf, 'utf8').catch(() => '')}location = /var/db/repos/afile/overlayman\n`)
    const config = await configState(root)
    const r = await runOlm(['add', 'dev-libs/bar::small', '--root', root])
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/could not write the repository at \S*\/var\/db\/repos\/afile\/overlayman: ENOTDIR/)])
    expect(await configState(root)).toEqual(config)
    await removeDir(root)
  })
})

describe.skipIf(missing)('what olm writes in cache-dir once the repository is published', () => {
  it('is a warning when it fails (the record of the sync, the lock): exit 0, the request recorded and published', async () => {
    // Every write counted, the cache's too: an add ends with the record of the sync and the removal of its lock.
    const count = path.join(work, `count${n++}`)
    await cloneRoot(template, count)
    const trace = path.join(work, `trace${n++}`)
    const counted = await spawnOlm(['add', 'dev-libs/bar::small', '--root', count], { preload: true, env: { OLM_TEST_COUNT_WRITES: '1', OLM_TEST_FAIL_OUTSIDE: '/nonexistent/', OLM_TEST_FS_TRACE: trace } }).done
    const total = Number(/olm-test-writes (\d+)/.exec(counted.stderr)![1])
    const calls = (await readFile(trace, 'utf8')).trim().split('\n')
    expect(calls.at(-1)).toMatch(/ rm .*\/var\/cache\/overlayman\/lock$/)
    expect(calls.slice(-12).join('\n')).toMatch(/^\d+ rename .*\/var\/cache\/overlayman\/\.last-sync\.json\S*$/m)
    for (const at of [total - 3, total - 2, total - 1, total]) {
      const root = path.join(work, `r${n++}`)
      await cloneRoot(template, root)
      const r = await spawnOlm(['add', 'dev-libs/bar::small', '--root', root], { preload: true, env: { OLM_TEST_FAIL_AT_WRITE: `${at}:EIO`, OLM_TEST_FAIL_OUTSIDE: '/nonexistent/' } }).done
      const point = `write ${at} of ${total}`
      expect([point, r.code, r.stderr]).toEqual([point, 0, expect.stringMatching(/^warning: could not (record this sync in|remove the lock in) \S+\/var\/cache\/overlayman .*EIO: injected fault.*\n$/)])
      expect(await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8')).toContain('dev-libs/bar::small')
      const prov = JSON.parse(await readFile(path.join(root, 'var/db/repos/overlayman/metadata/overlayman.json'), 'utf8'))
      expect(prov.packages.some((p: { package: string; requested: boolean }) => p.package === 'dev-libs/bar' && p.requested)).toBe(true)
      const next = await runOlm(['sync', '--root', root])
      expect([point, next.code, next.stderr]).toEqual([point, 0, ''])
      await removeDir(root)
    }
  })
})
