// Shared pieces of the benchmarks: running a process under /usr/bin/time -v
// (wall time, peak RSS, timestamped stderr lines), sizes on disk, a scratch
// Gentoo root for olm, and table formatting.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
export const OLM_BIN = path.join(PROJECT, 'bin/olm.js')
const HAVE_TIME = existsSync('/usr/bin/time')

/**
 * Runs cmd to completion. Returns { ms, maxRssKiB, out, err, lines } where
 * lines are stderr lines with the ms (since start) they arrived at. Peak RSS
 * comes from /usr/bin/time -v when present, else from polling VmHWM. The
 * file systems are synced first (opts.flush false: not).
 */
export function timed(cmd, args, opts = {}) {
  // Dirty pages left by the previous step would be flushed by whichever side fsyncs first: start each run clean.
  if (opts.flush !== false) execFileSync('sync')
  const [file, argv] = HAVE_TIME ? ['/usr/bin/time', ['-v', cmd, ...args]] : [cmd, args]
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const since = () => Number(process.hrtime.bigint() - started) / 1e6
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const lines = []
    let partial = ''
    let hwm = 0
    const poll = HAVE_TIME ? null : setInterval(() => (hwm = Math.max(hwm, vmHwm(child.pid))), 20)
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => {
      err += c
      const parts = (partial + c).split('\n')
      partial = parts.pop()
      for (const text of parts) lines.push({ ms: since(), text })
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = since()
      if (poll) clearInterval(poll)
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err)
      const status = /Exit status: (\d+)/.exec(err)
      const exit = status ? Number(status[1]) : code
      if (exit !== 0 && !opts.allowFail) return reject(new Error(`${cmd} ${args.join(' ')} exited ${exit}\n${out}\n${err}`))
      resolve({ ms, maxRssKiB: rss ? Number(rss[1]) : hwm, out, err, lines, exit })
    })
  })
}

function vmHwm(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** Apparent bytes of every file under dir. */
export async function dirBytes(dir) {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(path.join(e.parentPath ?? e.path, e.name))).size
  return total
}

/**
 * A scratch Gentoo root: the ::gentoo stand-in registered in repos.conf, the
 * given overlays (name → url) in overlays.d.
 */
export async function makeRoot(root, overlays, registryUrl) {
  await cp(path.join(PROJECT, 'fixtures/overlays/gentoo'), path.join(root, 'var/db/repos/gentoo'), { recursive: true })
  await mkdir(path.join(root, 'var/cache'), { recursive: true })
  await mkdir(path.join(root, 'etc/portage/repos.conf'), { recursive: true })
  await writeFile(path.join(root, 'etc/portage/repos.conf/gentoo.conf'), '[DEFAULT]\nmain-repo = gentoo\n\n[gentoo]\nlocation = /var/db/repos/gentoo\n')
  await mkdir(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
  const defs = Object.entries(overlays).map(([name, url]) => `[${name}]\nsync-uri = ${url}\n`)
  await writeFile(path.join(root, 'etc/overlayman/overlays.d/bench.conf'), defs.join('\n'))
  await writeFile(path.join(root, 'etc/overlayman/overlayman.conf'), `repositories-xml = ${registryUrl}\n`)
  return root
}

/** The built olm, verbose (its per-step stderr lines time the phases), against root. */
export function olm(root, args, opts = {}) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }
  // As a user runs it: through its #! line, which carries olm's node flags.
  const [cmd, argv] = opts.nodeArgs ? [process.execPath, [...opts.nodeArgs, OLM_BIN]] : [OLM_BIN, []]
  return timed(cmd, [...argv, ...args, '-v', '--root', root], { env, allowFail: opts.allowFail })
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]
export const kib = (n) => `${(n / 1024).toFixed(1)} KiB`
export const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`
export const ms = (n) => `${n.toFixed(0)} ms`

/** Prints rows ({ cells: [...] }) as a fixed-width table under the header. */
export function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const fmt = (cells) => cells.map((c, i) => (i === 0 ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  ')
  console.log(fmt(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(fmt(r))
}
