/**
 * One long-lived bash process running the depend-phase harness (harness.sh):
 * it reads requests on fd 3 and answers on fd 4, sourcing each ebuild in a
 * subshell of its own process group. Requests are served one at a time.
 *
 * The process starts from an empty environment, with stdin and stdout on
 * /dev/null, optionally under another uid/gid (spawned directly, never
 * through a shell command line). A request that outlives its time limit has
 * its process group killed; the worker itself carries on.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { Readable, Writable } from 'node:stream'
import { PRELUDE } from './prelude.js'

export interface WorkerOptions {
  bashPath: string
  /** cwd of bash; nothing is written there. */
  workDir: string
  /** Master eclass directories in search order (last master first, pms.md §6.6). */
  eclassSearchDirs: string[]
  timeoutMs: number
  /** RLIMIT_NPROC for the worker's uid (fork bombs), RLIMIT_CPU seconds and RLIMIT_AS KiB per ebuild. */
  limits: { processes: number; cpuSeconds: number; memoryKiB: number }
  runAs?: { uid: number; gid: number }
}

export interface EvalRequest {
  ebuildFile: string
  /** The overlay's own (materialized) eclass directory, searched first. */
  ownEclassDir: string
  category: string
  pn: string
  pv: string
  pr: string
  eapi: string
}

export type EvalResult =
  | { ok: true; keys: Map<string, string>; eclasses: { name: string; searchIndex: number }[] }
  | { ok: false; reason: string; stderr: string }

export interface Worker {
  evaluate(req: EvalRequest): Promise<EvalResult>
  readonly alive: boolean
  close(): Promise<void>
}

/** Exit statuses of an evaluation killed by a signal (128 + signal number). */
const SIGNAL_REASONS: Record<number, string> = {
  137: 'was killed (SIGKILL: a resource limit or an exited process group)',
  152: 'used up its CPU time limit',
  153: 'tried to write to a file',
}

/**
 * How long bash may take to start an evaluation subshell, beyond the time
 * limit: after a fork bomb, its killed processes count against the user's
 * process limit until init reaps them, and bash retries fork meanwhile.
 */
const FORK_GRACE_MS = 30_000

/** Text kept from the ebuild's stderr for error reports. */
const STDERR_TAIL = 2000

interface Pending {
  nonce: string
  keys: Map<string, string>
  eclasses: { name: string; searchIndex: number }[]
  completed: boolean
  died?: string
  jobPid?: number
  timedOut: boolean
  timer: NodeJS.Timeout
  resolve: (r: EvalResult) => void
}

export function startWorker(opts: WorkerOptions): Worker {
  const { processes, cpuSeconds, memoryKiB } = opts.limits
  const args = ['--noprofile', '--norc', '-c', PRELUDE, 'olm-metadata',
    String(processes), String(cpuSeconds), String(memoryKiB), opts.workDir, ...opts.eclassSearchDirs]
  const child = spawn(opts.bashPath, args, {
    cwd: opts.workDir,
    env: {},
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
  })
  const requests = child.stdio[3] as Writable
  const replies = child.stdio[4] as Readable
  let current: Pending | undefined
  let alive = true
  let stderr = ''
  let partial = ''

  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL)
  })
  replies.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const line of lines) onReply(line)
  })
  requests.on('error', () => {}) // a dead worker shows up as 'exit'
  child.on('error', (err) => finishDead(`bash could not be started: ${err.message}`))
  child.on('exit', (code, signal) => finishDead(`the bash worker exited (${signal ?? `status ${code}`})`))

  function onReply(line: string): void {
    const p = current
    const [nonce, kind, ...rest] = line.split(' ')
    if (!p || nonce !== p.nonce) return // stale, or junk an ebuild wrote to fd 4
    const arg = rest.join(' ')
    if (kind === 'K') {
      const eq = arg.indexOf('=')
      if (eq > 0) p.keys.set(arg.slice(0, eq), arg.slice(eq + 1))
    } else if (kind === 'E') p.eclasses.push({ name: rest[0] ?? '', searchIndex: Number(rest[1]) })
    else if (kind === 'die') p.died ??= arg
    else if (kind === 'ok') p.completed = true
    else if (kind === 'job') {
      p.jobPid = Number(arg)
      // the time limit is the ebuild's: it starts once its subshell exists
      clearTimeout(p.timer)
      p.timer = setTimeout(() => onTimeout(p), opts.timeoutMs)
    }
    else if (kind === 'done') settle(p, Number(arg))
  }

  function settle(p: Pending, status: number): void {
    clearTimeout(p.timer)
    current = undefined
    if (p.completed && p.died === undefined && status === 0) {
      p.resolve({ ok: true, keys: p.keys, eclasses: p.eclasses })
      return
    }
    const reason = p.timedOut
      ? `timed out after ${opts.timeoutMs / 1000}s`
      : p.died !== undefined
        ? `died: ${p.died}`
        : (SIGNAL_REASONS[status] ?? `stopped before its metadata was complete (status ${status})`)
    p.resolve({ ok: false, reason, stderr })
  }

  function finishDead(reason: string): void {
    alive = false
    const p = current
    if (p?.jobPid) killGroup(p.jobPid)
    if (p) {
      clearTimeout(p.timer)
      current = undefined
      p.resolve({ ok: false, reason: p.timedOut ? `timed out after ${opts.timeoutMs / 1000}s` : reason, stderr })
    }
  }

  function onTimeout(p: Pending): void {
    p.timedOut = true
    if (p.jobPid) killGroup(p.jobPid)
    else killGroup(child.pid!) // the job never reported itself: give up on the whole worker
  }

  return {
    get alive() {
      return alive
    },
    evaluate(req) {
      if (!alive) return Promise.resolve({ ok: false, reason: 'the bash worker is gone', stderr: '' })
      if (current) throw new Error('worker is busy: requests must be serialized')
      const fields = [req.ebuildFile, req.ownEclassDir, req.category, req.pn, req.pv, req.pr, req.eapi]
      if (fields.some((f) => /[\t\n]/.test(f))) throw new Error(`request field with TAB or newline: ${JSON.stringify(fields)}`)
      return new Promise<EvalResult>((resolve) => {
        const nonce = randomBytes(12).toString('hex')
        stderr = ''
        const p: Pending = { nonce, keys: new Map(), eclasses: [], completed: false, timedOut: false, resolve,
          timer: setTimeout(() => onTimeout(p), opts.timeoutMs + FORK_GRACE_MS) }
        current = p
        requests.write(`${[nonce, ...fields].join('\t')}\n`)
      })
    },
    close() {
      if (!alive) return Promise.resolve()
      return new Promise<void>((done) => {
        child.once('exit', () => done())
        requests.end()
        if (current?.jobPid) killGroup(current.jobPid)
        killGroup(child.pid!)
      })
    },
  }
}

/** SIGKILL to a process group; a group that is already gone is fine. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

