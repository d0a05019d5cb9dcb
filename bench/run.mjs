#!/usr/bin/env node
// `npm run bench` (issue 8): olm side by side with native git, on loopback,
// against a generated GURU-sized overlay (5,000 packages, ~16,000 ebuilds,
// ~15 MiB depth-1 pack) plus four small ones. One table of ratios.
//
//   npm run bench -- [--packages N] [--reps N] [--rounds N] [--keep] [--json FILE]
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { importOverlay, pickRequests, touchPackages } from './gen-overlay.mjs'
import { PROJECT, dirBytes, kib, makeRoot, median, mib, ms, olm, printTable, timed } from './lib.mjs'

const argv = process.argv.slice(2)
const arg = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt)
const PACKAGES = arg('--packages', 5000)
const REPS = arg('--reps', 3)
const ROUNDS = arg('--rounds', 3)
const SMALL = ['b', 'c', 'd', 'e'].map((t) => ({ name: `synthetic-${t}`, tag: `s${t}`, packages: 300 }))

async function loadHelpers() {
  const dir = path.join(PROJECT, 'dist-test/test/helpers')
  if (!existsSync(path.join(dir, 'git-server.js')) || !existsSync(path.join(PROJECT, 'dist/cli/main.js')))
    throw new Error('run `npm run build && npm run build:helpers` first (npm run bench does)')
  const load = (n) => import(pathToFileURL(path.join(dir, `${n}.js`)).href)
  return { ...(await load('git-server')), ...(await load('bare-repo')) }
}

/** Generates and publishes every overlay; returns what the scenarios need to know. */
async function setup(h, work) {
  const t = performance.now()
  const gitRoot = path.join(work, 'git')
  const overlays = [{ name: 'synthetic', tag: 'syn', packages: PACKAGES }, ...SMALL]
  for (const o of overlays) {
    o.repo = path.join(gitRoot, `${o.name}.git`)
    Object.assign(o, await importOverlay(o.repo, { packages: o.packages, tag: o.tag }))
    // A hosting server keeps its repos packed with deltas; without this both clients would time pack-objects' delta search.
    execFileSync('git', ['-C', o.repo, 'repack', '-a', '-d', '-f', '-q'])
  }
  const server = await h.startGitServer({ root: gitRoot })
  for (const o of overlays) o.url = `${server.url}/${o.name}.git`
  console.error(`setup: ${overlays.length} overlays generated and served in ${((performance.now() - t) / 1000).toFixed(0)} s`)
  return { server, overlays, big: overlays[0] }
}

const gitEnv = (work) => ({ PATH: process.env.PATH, HOME: work, GIT_CONFIG_NOSYSTEM: '1' })

/** Time from olm's last "::overlay at" line (fetch done) to its exit: resolve, plan, publish. */
function resolveWriteMs(run) {
  const fetched = run.lines.filter((l) => /^::\S+ at [0-9a-f]{12}/.test(l.text)).at(-1)
  return fetched ? run.ms - fetched.ms : NaN
}

async function coldAdd(ctx, count) {
  const { work, big, server } = ctx
  const pkgs = pickRequests(big.model, count).map((cp) => `${cp}::synthetic`)
  const rows = []
  for (let i = 0; i < REPS; i++) {
    const cloneDir = path.join(work, `clone-${count}-${i}`)
    server.resetCounters()
    const native = await timed('git', ['clone', '-q', '--depth', '1', '--no-checkout', big.url, cloneDir], { env: gitEnv(work) })
    const nativeBytes = server.bytesSent()
    const root = await makeRoot(path.join(work, `root-add${count}-${i}`), ctx.urls, `${server.url}/repositories.xml`)
    server.resetCounters()
    const run = await olm(root, ['add', ...pkgs])
    rows.push({ native, run, nativeBytes, bytes: server.bytesSent(), root, cloneDir, resolveWrite: resolveWriteMs(run), pulled: /resolved (\d+) packages/.exec(run.err)?.[1] })
  }
  const pick = (f) => median(rows.map(f))
  const last = rows.at(-1)
  return {
    nativeMs: pick((r) => r.native.ms), olmMs: pick((r) => r.run.ms), resolveWriteMs: pick((r) => r.resolveWrite),
    rssKiB: Math.max(...rows.map((r) => r.run.maxRssKiB)), nativeRssKiB: Math.max(...rows.map((r) => r.native.maxRssKiB)),
    pulled: last.pulled, root: last.root, cloneDir: last.cloneDir, bytes: last.bytes, nativeBytes: last.nativeBytes,
  }
}

async function noChangeSync(ctx) {
  const { work, overlays, server } = ctx
  const root = await makeRoot(path.join(work, 'root-5'), ctx.urls, `${server.url}/repositories.xml`)
  await olm(root, ['add', ...overlays.map((o) => `${pickRequests(o.model, 1)[0]}::${o.name}`)])
  const natives = []
  const runs = []
  for (let i = 0; i < REPS; i++) {
    execFileSync('sync')
    const t = performance.now()
    for (const o of overlays) await timed('git', ['ls-remote', o.url], { env: gitEnv(work), flush: false })
    natives.push(performance.now() - t)
    const run = await olm(root, ['sync'])
    if (!/nothing changed/.test(run.out)) throw new Error(`no-change sync did not say so:\n${run.out}\n${run.err}`)
    runs.push(run)
  }
  return { nativeMs: median(natives), olmMs: median(runs.map((r) => r.ms)), rssKiB: Math.max(...runs.map((r) => r.maxRssKiB)) }
}

async function incrementalSync(ctx, add50) {
  const { work, big, server } = ctx
  const rows = []
  for (let round = 1; round <= ROUNDS; round++) {
    await ctx.h.commitChange(big.repo, touchPackages({ model: big.model, count: 10, round }), `bump 10 packages (${round})`)
    server.resetCounters()
    const native = await timed('git', ['-C', add50.cloneDir, 'fetch', '-q', '--depth', '1', 'origin'], { env: gitEnv(work) })
    const nativeBytes = server.bytesSent()
    server.resetCounters()
    const run = await olm(add50.root, ['sync'])
    rows.push({ native, nativeBytes, run, bytes: server.bytesSent() })
  }
  return {
    nativeMs: median(rows.map((r) => r.native.ms)), olmMs: median(rows.map((r) => r.run.ms)),
    nativeBytes: median(rows.map((r) => r.nativeBytes)), bytes: median(rows.map((r) => r.bytes)),
    rssKiB: Math.max(...rows.map((r) => r.run.maxRssKiB)),
  }
}

async function resolveOnly(ctx, add50) {
  const cacheRoot = path.join(add50.root, 'var/cache/overlayman/overlays')
  const cacheDir = path.join(cacheRoot, (await readdir(cacheRoot)).find((n) => n.startsWith('synthetic.git.')))
  const pkgs = pickRequests(ctx.big.model, 500)
  const script = path.join(PROJECT, 'bench/resolve-only.mjs')
  const run = await timed(process.execPath, [script, cacheDir, 'synthetic', path.join(add50.root, 'var/db/repos/gentoo'), ...pkgs])
  return { ...JSON.parse(run.out), rssKiB: run.maxRssKiB, cacheDir, requested: pkgs.length }
}

async function baselines() {
  const bare = await timed(process.execPath, ['-e', '0'])
  const version = await timed(process.execPath, [path.join(PROJECT, 'bin/olm.js'), '--version'])
  return { nodeRssKiB: bare.maxRssKiB, olmIdleRssKiB: version.maxRssKiB, olmStartMs: version.ms }
}

async function packBytes(gitDir) {
  const dir = path.join(gitDir, 'objects/pack')
  let total = 0
  for (const n of await readdir(dir)) if (n.endsWith('.pack')) total += (await stat(path.join(dir, n))).size
  return total
}

const ratio = (a, b) => `${(a / b).toFixed(2)}x`
const rss = (k) => mib(k * 1024)
const verdict = (ok) => (ok ? 'ok' : 'MISS')

function report(ctx, r) {
  const packMiB = r.packBytes / 1048576
  const rows = [
    ['cold add, 1 package', ms(r.add1.nativeMs), ms(r.add1.olmMs), ratio(r.add1.olmMs, r.add1.nativeMs), '<= 2x', verdict(r.add1.olmMs <= 2 * r.add1.nativeMs), rss(r.add1.rssKiB)],
    ['  resolve + write', '', ms(r.add1.resolveWriteMs), `${((100 * r.add1.resolveWriteMs) / r.add1.olmMs).toFixed(0)} %`, '<= 10 %', verdict(r.add1.resolveWriteMs <= 0.1 * r.add1.olmMs), ''],
    [`cold add, 50 packages`, ms(r.add50.nativeMs), ms(r.add50.olmMs), ratio(r.add50.olmMs, r.add50.nativeMs), '<= 2x', verdict(r.add50.olmMs <= 2 * r.add50.nativeMs), rss(r.add50.rssKiB)],
    ['  resolve + write', '', ms(r.add50.resolveWriteMs), `${((100 * r.add50.resolveWriteMs) / r.add50.olmMs).toFixed(0)} %`, '<= 10 %', verdict(r.add50.resolveWriteMs <= 0.1 * r.add50.olmMs), ''],
    ['no-change sync, 5 overlays', ms(r.noop.nativeMs), ms(r.noop.olmMs), ratio(r.noop.olmMs, r.noop.nativeMs), '<= 2x', verdict(r.noop.olmMs <= 2 * r.noop.nativeMs), rss(r.noop.rssKiB)],
    ['sync after 10-package bump', ms(r.inc.nativeMs), ms(r.inc.olmMs), ratio(r.inc.olmMs, r.inc.nativeMs), '<= 2x', verdict(r.inc.olmMs <= 2 * r.inc.nativeMs), rss(r.inc.rssKiB)],
    ['  bytes received', kib(r.inc.nativeBytes), kib(r.inc.bytes), ratio(r.inc.bytes, r.inc.nativeBytes), '<= 1.1x', verdict(r.inc.bytes <= 1.1 * r.inc.nativeBytes), ''],
    [`resolve only, ${r.res.requested} requested`, '', ms(r.res.resolveMs), `${r.res.packages} pkgs`, '', '', rss(r.res.rssKiB)],
    ['  + build write plan', '', ms(r.res.planMs), `${r.res.files} files`, '', '', ''],
    ['cache on disk', mib(r.nativeSize), mib(r.cacheSize), ratio(r.cacheSize, r.nativeSize), '', '', ''],
  ]
  const big = ctx.big
  console.log(`\noverlay ::synthetic: ${big.packages} packages, ${big.ebuilds} ebuilds, ${big.files} files; depth-1 pack ${packMiB.toFixed(1)} MiB; plus 4 overlays of ${SMALL[0].packages} packages`)
  console.log(`median of ${REPS} runs (${ROUNDS} bump rounds); native git ${execFileSync('git', ['--version'], { encoding: 'utf8' }).trim()}, node ${process.version}\n`)
  printTable(['scenario', 'native git', 'olm', 'ratio', 'target', '', 'olm peak RSS'], rows)
  const peak = Math.max(r.add1.rssKiB, r.add50.rssKiB, r.noop.rssKiB, r.inc.rssKiB) * 1024
  console.log(`\npulled: ${r.add1.pulled} packages for 1 request, ${r.add50.pulled} for 50; bytes of the cold add: native ${mib(r.add50.nativeBytes)}, olm ${mib(r.add50.bytes)}`)
  console.log(`peak RSS over olm scenarios ${mib(peak)} (target <= 150 MB = ${mib(150e6)}): ${verdict(peak <= 150e6)}; ${(peak / r.packBytes).toFixed(1)}x the pack (issue 3 target <= 15x)`)
  console.log(`node's own baseline (node -e 0) ${rss(r.base.nodeRssKiB)}; olm --version ${rss(r.base.olmIdleRssKiB)} in ${ms(r.base.olmStartMs)}; olm's share of the peak ${mib(peak - r.base.nodeRssKiB * 1024)}`)
  console.log(`native git clone peak RSS ${rss(r.add50.nativeRssKiB)}`)
}

async function main() {
  const h = await loadHelpers()
  const missing = h.gitHttpBackendMissing()
  if (missing) throw new Error(missing)
  const work = await mkdtemp(path.join(tmpdir(), 'olm-bench-'))
  let ctx
  try {
    ctx = { h, work, ...(await setup(h, work)) }
    ctx.urls = Object.fromEntries(ctx.overlays.map((o) => [o.name, o.url]))
    const r = { base: await baselines() }
    r.add1 = await coldAdd(ctx, 1)
    r.add50 = await coldAdd(ctx, 50)
    r.packBytes = await packBytes(path.join(r.add50.cloneDir, '.git'))
    r.nativeSize = await dirBytes(path.join(r.add50.cloneDir, '.git'))
    r.cacheSize = await dirBytes(path.join(r.add50.root, 'var/cache/overlayman/overlays'))
    r.noop = await noChangeSync(ctx)
    r.res = await resolveOnly(ctx, r.add50)
    r.inc = await incrementalSync(ctx, r.add50)
    execFileSync('git', ['--git-dir', r.res.cacheDir, 'fsck', '--no-dangling'], { stdio: 'ignore' })
    report(ctx, r)
    const json = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null
    if (json) await writeFile(json, JSON.stringify(r, (k, v) => (k === 'model' ? undefined : v), 2))
  } finally {
    await ctx?.server.close()
    if (argv.includes('--keep')) console.error(`kept ${work}`)
    else await rm(work, { recursive: true, force: true })
  }
}

await main()
