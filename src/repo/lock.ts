import fs from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { isErrno } from '../config/load.js'
import { OlmError } from '../errors.js'
import { INITIAL_PID_NAMESPACE, ownNamespace, runsInNamespace, startTicks } from '../util/processes.js'

/** Who holds the lock: written into the lock file so a waiting run can say so. */
export interface LockHolder {
  pid: number
  host: string
  command: string
  started: string
  /** process start time from /proc, so a reused pid is not taken for the holder */
  startTicks?: string
  /** its pid namespace (/proc/self/ns/pid): a pid means nothing in another (see isStale) */
  pidns?: string
  /** its time namespace (/proc/self/ns/time), which shifts how its start time reads */
  timens?: string
  /** which run: containers sharing the directory may each run olm as pid 1 */
  token?: string
}

export interface LockOptions {
  command: string
  /** how long to wait for another run; 0 = do not wait */
  waitMs: number
  now: () => Date
  onWait?: (holder: LockHolder) => void
}

export interface Lock {
  release(): Promise<void>
}

/**
 * One olm at a time (contract "One at a time"): an O_EXCL lock file `lock`
 * in dir (the cache dir; the generations directory too while publishing). A
 * lock whose holder died (same host and pid namespace, pid gone or reused)
 * is taken over; the takeover itself is serialized by a second O_EXCL file so
 * two waiters cannot both decide the same lock is stale.
 */
export async function acquireLock(dir: string, opts: LockOptions): Promise<Lock> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 })
  const file = path.join(dir, 'lock')
  // Re-entrant within one process: a command takes the lock before it reads
  // its configuration, and the sync it then runs takes it again.
  const mine = held.get(file)
  if (mine) mine.count++
  else held.set(file, { count: 1, release: (await acquireFile(file, opts)).release })
  let released = false
  return { release: () => (released ? Promise.resolve() : ((released = true), releaseHeld(file))) }
}

/** What to warn of when a lock could not be let go, after the work it guarded was done. */
export const unreleased = (dir: string, err: Error) => `could not remove the lock in ${dir} (${err.message}); the next run takes it over`

const held = new Map<string, { count: number; release: () => Promise<void> }>()

async function releaseHeld(file: string): Promise<void> {
  const mine = held.get(file)
  if (!mine || --mine.count > 0) return
  held.delete(file)
  await mine.release()
}

async function acquireFile(file: string, opts: LockOptions): Promise<Lock> {
  const me: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    command: opts.command,
    started: opts.now().toISOString(),
    startTicks: startTicks(process.pid),
    pidns: ownNamespace('pid'),
    timens: ownNamespace('time'),
    token: randomBytes(8).toString('hex'),
  }
  const deadline = Date.now() + opts.waitMs
  let told = false
  await removeDeadTemps(file)
  for (;;) {
    if (await tryCreate(file, me)) return { release: () => release(file, me) }
    const holder = await readHolder(file)
    if ((holder && isStale(holder)) || (!holder && (await isBroken(file)))) {
      await takeOverStale(file, holder)
      continue
    }
    if (holder && !told) {
      opts.onWait?.(holder)
      told = true
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} on ${holder.host} (olm ${holder.command}, since ${holder.started})` : 'another olm'
      // A holder on another host or in another container may have died without olm here being able to tell.
      const unseen = holder && !canJudge(holder) ? '; olm cannot see that process from here: if it no longer runs, remove the file' : ''
      throw new OlmError('LOCKED', `${who} holds ${file}; try again later${unseen}`, { file })
    }
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 150))
  }
}

/**
 * The lock file appears with its content or not at all: written beside it,
 * then hard-linked into place (link fails with EEXIST like O_EXCL). A run
 * killed between creating and writing an O_EXCL file would leave an empty lock
 * nobody could judge stale.
 */
async function tryCreate(file: string, me: LockHolder): Promise<boolean> {
  const temp = `${file}.${process.pid}.${me.token}.new`
  await fs.writeFile(temp, JSON.stringify(me) + '\n', { mode: 0o644 })
  try {
    await fs.link(temp, file)
    return true
  } catch (err) {
    // ENOENT: this run stood still so long between the two calls that another removed its temp file.
    if (isErrno(err, 'EEXIST') || isErrno(err, 'ENOENT')) return false
    throw err
  } finally {
    await fs.rm(temp, { force: true })
  }
}

/**
 * Temp files of runs killed while creating the lock: judged by the holder
 * they name, like a lock (not by the pid in their name, which another pid
 * namespace may have too), and any a minute old (a temp file lives for two
 * calls; one killed mid-write names nobody).
 */
async function removeDeadTemps(file: string): Promise<void> {
  const dir = path.dirname(file)
  const temp = new RegExp(`^${path.basename(file)}\\.\\d+(\\.[0-9a-f]+)?\\.new$`)
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!temp.test(name)) continue
    const holder = await readHolder(path.join(dir, name))
    const st = await fs.lstat(path.join(dir, name)).catch(() => null)
    if (st && ((holder && isStale(holder)) || Date.now() - st.mtimeMs > 60_000)) await fs.rm(path.join(dir, name), { force: true })
  }
}

/** A lock file no olm of this version writes (empty, garbled) and older than a few seconds is a dead run's. */
async function isBroken(file: string): Promise<boolean> {
  const st = await fs.stat(file).catch(() => null)
  return st !== null && Date.now() - st.mtimeMs > 5_000 && (await readHolder(file)) === null
}

async function readHolder(file: string): Promise<LockHolder | null> {
  let holder: Partial<LockHolder> | null
  try {
    holder = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockHolder> | null
  } catch {
    return null // vanished, or being written right now
  }
  // Valid JSON that names no holder (damaged, written by hand) is as broken as garbage: see isBroken.
  return holder && typeof holder === 'object' && Number.isInteger(holder.pid) && typeof holder.host === 'string' && typeof holder.started === 'string' ? (holder as LockHolder) : null
}

/**
 * Whether olm here can tell if the holder still runs: not on another host,
 * nor in another container unless from the host as root (see runsInNamespace).
 */
function canJudge(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false
  const mine = ownNamespace('pid')
  return h.pidns === undefined || mine === undefined || h.pidns === mine || (mine === INITIAL_PID_NAMESPACE && process.getuid?.() === 0)
}

function isStale(h: LockHolder): boolean {
  if (!canJudge(h)) return false
  if (h.pidns !== undefined && ownNamespace('pid') !== undefined && h.pidns !== ownNamespace('pid')) return !foreignHolderRuns(h)
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    return isErrno(err, 'ESRCH')
  }
  return h.startTicks !== undefined && startTicks(h.pid) !== undefined && startTicks(h.pid) !== h.startTicks
}

/** stale: the dead holder; null for a broken lock file (see isBroken). */
async function takeOverStale(file: string, stale: LockHolder | null): Promise<void> {
  const guard = `${file}.takeover`
  try {
    await fs.writeFile(guard, String(process.pid), { flag: 'wx' })
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err
    // A takeover guard left by a run killed mid-takeover is itself stale after a while.
    const st = await fs.stat(guard).catch(() => null)
    if (st && Date.now() - st.mtimeMs > 10_000) await fs.rm(guard, { force: true })
    return
  }
  try {
    const now = await readHolder(file)
    const same = stale === null ? now === null && (await isBroken(file)) : now !== null && sameHolder(now, stale)
    if (same) await fs.rm(file, { force: true })
  } finally {
    await fs.rm(guard, { force: true })
  }
}

async function release(file: string, me: LockHolder): Promise<void> {
  const now = await readHolder(file)
  if (now && sameHolder(now, me)) await fs.rm(file, { force: true })
}

/** The same run: by its token (an older olm's holder has none: by pid and start). */
const sameHolder = (a: LockHolder, b: LockHolder) => (a.token !== undefined || b.token !== undefined ? a.token === b.token : a.pid === b.pid && a.started === b.started)

/**
 * Whether a holder of another pid namespace runs, seen from the initial one
 * (see runsInNamespace: by its pid there and its start time, as the kernel
 * gives a number freed by a container that ended to the next one, whose pid
 * 1 is no holder). The verdict holds a few seconds: a wait asks every
 * 100-250 ms, and a scan of a thousand processes takes ~30 ms.
 */
function foreignHolderRuns(h: LockHolder): boolean {
  const key = h.token ?? `${h.pid} ${h.started}`
  const known = foreignVerdicts.get(key)
  if (known && Date.now() - known.at < 3_000) return known.runs
  const runs = runsInNamespace(h)
  foreignVerdicts.set(key, { at: Date.now(), runs })
  return runs
}

const foreignVerdicts = new Map<string, { at: number; runs: boolean }>()
