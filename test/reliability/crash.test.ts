import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import pLimit from 'p-limit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { runOlm } from '../helpers/olm.js'
import {
  cloneRoot, configState, digestOf, makeRoot, publishMiniOverlay, publishedTree, smallOverlayUpdate, spawnOlm,
} from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * Contract "Atomic": kill -9 at any point of a sync leaves the old repository
 * or the new one, whole; the configuration untouched; and the next sync
 * succeeds. Kill points are exact fs calls (the kill hook preloaded into olm)
 * spread over the whole run, plus kills at random delays while fetching.
 */
const missing = gitHttpBackendMissing()
let server: GitServer
let work: string
let template: string
const expected = { old: '', new: '' }
let oldFiles = 0
let callsPerSync = 0
let trace: string[] = []

beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-crash-')
  await publishMiniOverlay(path.join(work, 'git/small.git'))
  server = await startGitServer({ root: path.join(work, 'git') })
  // The template: generation "old" published, upstream then moved to "new".
  template = path.join(work, 'template')
  const { repo } = await makeRoot(template, { serverUrl: server.url, overlays: { small: 'small.git' } })
  await mkdir(path.join(template, 'etc/overlayman/packages.d'), { recursive: true })
  await writeFile(path.join(template, 'etc/overlayman/packages.d/mine.conf'), '# mine\napp-misc/foo::small\n')
  const first = await runOlm(['sync', '--root', template])
  expect(first.stderr).toBe('')
  const old = (await publishedTree(repo))!
  expected.old = digestOf(old.files)
  oldFiles = old.files.size
  await smallOverlayUpdate(path.join(work, 'git/small.git'))
  // One whole traced run: how many fs calls a sync makes, and the "new" generation.
  const probe = path.join(work, 'probe')
  await cloneRoot(template, probe)
  const traceFile = path.join(work, 'trace')
  const run = spawnOlm(['sync', '--root', probe], { preload: true, env: { OLM_TEST_FS_TRACE: traceFile } })
  expect((await run.done).code).toBe(0)
  trace = (await readFile(traceFile, 'utf8')).trimEnd().split('\n')
  callsPerSync = trace.length
  expected.new = digestOf((await publishedTree(path.join(probe, 'var/db/repos/overlayman')))!.files)
}, 120_000)
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
})

/** What phase the nth fs call of a sync belongs to, from the traced run. */
function phaseOf(n: number): string {
  const line = trace[n - 1] ?? ''
  if (line.includes('/var/cache/overlayman/overlays/')) return 'fetch'
  if (line.includes('/.stage-')) return 'write'
  if (/\.olm\b|\.link-|repos\.conf/.test(line)) return 'publish'
  return 'resolve'
}

interface Outcome {
  point: string
  killed: boolean
  seen: string
  readerWalks: number
}

/** Runs one sync killed as `kill` says, with a reader walking the repository meanwhile; checks everything after. */
async function crashOnce(i: number, kill: { atCall?: number; afterMs?: number }): Promise<Outcome> {
  const root = path.join(work, `r${i}`)
  await cloneRoot(template, root)
  const repo = path.join(root, 'var/db/repos/overlayman')
  const config = await configState(root)
  const env: Record<string, string> = kill.atCall ? { OLM_TEST_SIGKILL_AT_FS_CALL: String(kill.atCall) } : {}
  const child = spawnOlm(['sync', '--root', root], { preload: true, env })
  const timer = kill.afterMs !== undefined ? setTimeout(() => child.kill(), kill.afterMs) : undefined
  let running = true
  const walks: string[] = []
  const reader = (async () => {
    while (running) {
      const seen = await publishedTree(repo).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)))
      if (seen === undefined) continue // the generation was pruned mid-walk: a reader would retry
      walks.push(seen === null ? 'none' : digestOf(seen.files))
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  const result = await child.done
  clearTimeout(timer)
  running = false
  await reader
  const point = kill.atCall ? `fs call ${kill.atCall} (${phaseOf(kill.atCall)})` : `${kill.afterMs} ms`
  for (const w of walks) expect([point, w]).toSatisfy(([, d]) => d === expected.old || d === expected.new)
  const after = await publishedTree(repo)
  const seen = after && digestOf(after.files)
  expect([point, seen === expected.old || seen === expected.new]).toEqual([point, true])
  expect(await configState(root)).toEqual(config)
  // The next sync succeeds and publishes the new generation, leaving no debris.
  const next = await runOlm(['sync', '--root', root])
  expect([point, next.code, next.stderr]).toEqual([point, 0, ''])
  expect(digestOf((await publishedTree(repo))!.files)).toBe(expected.new)
  expect(await configState(root)).toEqual(config)
  const genDir = path.join(root, 'var/db/repos/.overlayman.olm')
  const gens = await readdir(genDir)
  // A run killed after its swap may leave its publish lock: the next sync had nothing to write, so
  // it touched nothing there; the next publish takes it over (its holder is gone).
  const lockLeft = gens.includes('lock') ? JSON.parse(await readFile(path.join(genDir, 'lock'), 'utf8')).pid : null
  expect([point, lockLeft]).toSatisfy(([, pid]) => pid === null || (result.signal === 'SIGKILL' && pid === child.pid && seen === expected.new))
  expect(gens.filter((g) => !g.startsWith('g-') && g !== 'lock')).toEqual([])
  expect((await readdir(path.join(root, 'var/db/repos'))).filter((n) => n.includes('.link-'))).toEqual([])
  await removeDir(root)
  return { point, killed: result.signal === 'SIGKILL', seen: seen === expected.old ? 'old' : 'new', readerWalks: walks.length }
}

describe.skipIf(missing)('kill -9 during olm sync', () => {
  it('the probe run really changes the repository', () => {
    expect(expected.old).not.toBe(expected.new)
    expect(oldFiles).toBeGreaterThan(10)
    expect(callsPerSync).toBeGreaterThan(100)
  })

  it('at 48 fs calls spread over fetch, resolve, write and publish, and 8 random moments', async () => {
    const points: { atCall?: number; afterMs?: number }[] = []
    for (let k = 0; k < 48; k++) points.push({ atCall: 1 + Math.floor((k * (callsPerSync - 1)) / 47) })
    for (let k = 0; k < 8; k++) points.push({ afterMs: 60 + Math.floor(Math.random() * 400) })
    // and right after the temp link of the swap is made, before it is renamed over the repository
    const linkCall = trace.findIndex((l) => / symlink \.overlayman\.olm\/g-/.test(l))
    expect(linkCall).toBeGreaterThan(0)
    points.push({ atCall: linkCall + 2 })
    const limit = pLimit(2)
    const outcomes = await Promise.all(points.map((p, i) => limit(() => crashOnce(i, p))))
    const killed = outcomes.filter((o) => o.killed)
    const phaseList = killed.map((o) => /\((\w+)\)/.exec(o.point)?.[1] ?? 'fetch (timed)')
    const phases = new Set(phaseList.filter((p) => !p.includes('timed')))
    const histogram = Object.fromEntries([...new Set(phaseList)].map((p) => [p, phaseList.filter((q) => q === p).length]))
    console.log(`crash safety: ${killed.length} kills survived of ${outcomes.length} runs; ${callsPerSync} fs calls per sync; ${JSON.stringify(histogram)}; ` +
      `old ${killed.filter((o) => o.seen === 'old').length}, new ${killed.filter((o) => o.seen === 'new').length}; reader walks ${outcomes.reduce((s, o) => s + o.readerWalks, 0)}`)
    expect(killed.length).toBeGreaterThanOrEqual(50)
    expect([...phases].sort()).toEqual(['fetch', 'publish', 'resolve', 'write'])
    // Both outcomes occur: kills before the swap keep the old one, after it the new one.
    expect(killed.some((o) => o.seen === 'old') && killed.some((o) => o.seen === 'new')).toBe(true)
  }, 300_000)
})
