#!/usr/bin/env node
// Fetch benchmark (issue 3): a synthetic overlay of >= 20,000 files served by
// git http-backend on loopback; times native `git clone --depth 1 --no-checkout`
// against the git source's first fetch, and native `git fetch --depth 1`
// against the source's update after a commit touching 10 packages. Prints time
// ratios, bytes, peak memory (max RSS) and cache size.
//
//   npm run build && node bench/fetch.mjs [--packages N] [--keep]
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { generateOverlay, touchPackages } from './gen-overlay.mjs'

const projectDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt)
const PACKAGES = arg('--packages', 3500)

/** The test helpers are TypeScript with node-only imports: transpile them next to each other and import. */
async function loadHelpers(workDir) {
  const outDir = path.join(workDir, 'helpers')
  await mkdir(outDir, { recursive: true })
  for (const name of ['git-server', 'bare-repo']) {
    const src = await readFile(path.join(projectDir, 'test/helpers', `${name}.ts`), 'utf8')
    const { outputText } = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    await writeFile(path.join(outDir, `${name}.mjs`), outputText)
  }
  const load = (n) => import(pathToFileURL(path.join(outDir, `${n}.mjs`)).href)
  return { ...(await load('git-server')), ...(await load('bare-repo')) }
}

/** Runs a command under /usr/bin/time -v when present; returns wall ms and max RSS (KiB). */
function timed(cmd, args, opts = {}) {
  const useTime = existsSync('/usr/bin/time')
  const [file, argv] = useTime ? ['/usr/bin/time', ['-v', cmd, ...args]] : [cmd, args]
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(file, argv, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${err}`))
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err)
      resolve({ ms, maxRssKiB: rss ? Number(rss[1]) : NaN, out })
    })
  })
}

/** The git source in its own process, so its peak memory is its own; timing is inside that process. */
async function sourceFetch(url, cacheDir) {
  const script = `
    const { fetchGitOverlay } = await import(${JSON.stringify(pathToFileURL(path.join(projectDir, 'dist/overlay/git.js')).href)})
    const t = performance.now()
    const res = await fetchGitOverlay({ overlay: 'synthetic', url: ${JSON.stringify(url)}, cacheDir: ${JSON.stringify(cacheDir)} })
    console.log(JSON.stringify({ ...res, ms: performance.now() - t }))`
  const r = await timed(process.execPath, ['--input-type=module', '-e', script])
  return { ...JSON.parse(r.out), maxRssKiB: r.maxRssKiB }
}

async function dirBytes(dir) {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(path.join(e.parentPath ?? e.path, e.name))).size
  return total
}

async function packBytes(gitDir) {
  const packDir = path.join(gitDir, 'objects/pack')
  let total = 0
  for (const n of await readdir(packDir)) if (n.endsWith('.pack')) total += (await stat(path.join(packDir, n))).size
  return total
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`
const mib = (n) => `${(n / 1048576).toFixed(2)} MiB`

async function main() {
  if (!existsSync(path.join(projectDir, 'dist/overlay/git.js'))) throw new Error('run `npm run build` first')
  const workDir = await mkdtemp(path.join(tmpdir(), 'olm-bench-'))
  try {
    const h = await loadHelpers(workDir)
    const missing = h.gitHttpBackendMissing()
    if (missing) throw new Error(missing)
    const srcDir = path.join(workDir, 'src')
    const gen = await generateOverlay(srcDir, { packages: PACKAGES })
    const root = path.join(workDir, 'root')
    const repoDir = path.join(root, 'synthetic.git')
    await h.makeBareRepo(srcDir, repoDir)
    // A hosting server keeps its repos packed; without this both clients would time pack-objects' delta search.
    execFileSync('git', ['-C', repoDir, 'repack', '-a', '-d', '-q'])
    const server = await h.startGitServer({ root })
    const url = `${server.url}/synthetic.git`
    try {
      const rows = await compare(h, server, url, repoDir, workDir)
      report(gen, rows)
    } finally {
      await server.close()
    }
  } finally {
    if (!process.argv.includes('--keep')) await rm(workDir, { recursive: true, force: true })
    else console.log(`kept ${workDir}`)
  }
}

async function compare(h, server, url, repoDir, workDir) {
  const nativeDir = path.join(workDir, 'native')
  const cacheDir = path.join(workDir, 'cache', 'synthetic')
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: workDir }

  server.resetCounters()
  const nClone = await timed('git', ['clone', '-q', '--depth', '1', '--no-checkout', url, nativeDir], { env })
  nClone.bytes = server.bytesSent()
  server.resetCounters()
  const sFirst = await sourceFetch(url, cacheDir)
  sFirst.serverBytes = server.bytesSent()
  sFirst.pack = await packBytes(cacheDir)

  await h.commitChange(repoDir, touchPackages({ packages: PACKAGES, count: 10 }), 'bump 10 packages')
  server.resetCounters()
  const nFetch = await timed('git', ['-C', nativeDir, 'fetch', '-q', '--depth', '1', 'origin'], { env })
  nFetch.bytes = server.bytesSent()
  server.resetCounters()
  const sUpdate = await sourceFetch(url, cacheDir)
  sUpdate.serverBytes = server.bytesSent()
  server.resetCounters()
  const sNoop = await sourceFetch(url, cacheDir)
  sNoop.serverBytes = server.bytesSent()

  execFileSync('git', ['--git-dir', cacheDir, 'fsck', '--full', '--no-dangling'], { stdio: 'ignore' })
  return {
    nClone, sFirst, nFetch, sUpdate, sNoop,
    nativeSize: await dirBytes(path.join(nativeDir, '.git')),
    cacheSize: await dirBytes(cacheDir),
  }
}

function report(gen, r) {
  const line = (label, n, s) => console.log(`${label.padEnd(16)}${String(n).padStart(16)}${String(s).padStart(16)}`)
  console.log(`overlay: ${gen.files} files, ${gen.packages} packages`)
  line('', 'native git', 'olm git source')
  line('first: time', `${r.nClone.ms.toFixed(0)} ms`, `${r.sFirst.ms.toFixed(0)} ms`)
  line('first: bytes', kib(r.nClone.bytes), kib(r.sFirst.serverBytes))
  line('first: max RSS', mib(r.nClone.maxRssKiB * 1024), mib(r.sFirst.maxRssKiB * 1024))
  line('update: time', `${r.nFetch.ms.toFixed(0)} ms`, `${r.sUpdate.ms.toFixed(0)} ms`)
  line('update: bytes', kib(r.nFetch.bytes), kib(r.sUpdate.serverBytes))
  line('update: max RSS', mib(r.nFetch.maxRssKiB * 1024), mib(r.sUpdate.maxRssKiB * 1024))
  line('no-change', '', `${r.sNoop.ms.toFixed(0)} ms, ${kib(r.sNoop.serverBytes)}`)
  line('cache size', mib(r.nativeSize), mib(r.cacheSize))
  console.log(`pack size (olm first fetch): ${mib(r.sFirst.pack)}`)
  console.log(`ratio first fetch time   ${(r.sFirst.ms / r.nClone.ms).toFixed(2)}x  (target <= 3)`)
  console.log(`ratio update time        ${(r.sUpdate.ms / r.nFetch.ms).toFixed(2)}x  (target <= 2.5)`)
  console.log(`ratio update bytes       ${(r.sUpdate.serverBytes / r.nFetch.bytes).toFixed(2)}x  (target <= 1.1)`)
  console.log(`peak memory / pack size  ${((r.sFirst.maxRssKiB * 1024) / r.sFirst.pack).toFixed(1)}x  (target <= 15; includes node's ~45 MiB baseline)`)
}

await main()
