import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { isErrno } from '../config/load.js'

/**
 * What /proc tells of processes, for judging whether a lock's holder still
 * runs: start times, namespaces, and the processes of another pid namespace.
 */

/**
 * The pid namespace every process shows in (PROC_PID_INIT_INO): from it, the
 * processes of the others (containers) can be seen too.
 */
export const INITIAL_PID_NAMESPACE = 'pid:[4026531836]'

const namespaces = new Map<string, string | undefined>()

/** This process's namespace of a kind ("pid:[4026531836]"); undefined where /proc or the kind is missing. */
export function ownNamespace(kind: 'pid' | 'time'): string | undefined {
  if (!namespaces.has(kind)) {
    try {
      namespaces.set(kind, readlinkSync(`/proc/self/ns/${kind}`))
    } catch {
      namespaces.set(kind, undefined)
    }
  }
  return namespaces.get(kind)
}

/** A process's start time (clock ticks after boot, as this time namespace reads it); undefined when it is gone. */
export function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/**
 * Whether a process with pid `pid` in pid namespace `pidns` runs, seen from
 * the initial namespace (see foreignHolderRuns in lock.ts): no zombie and not
 * ending, its pid the last of its NSpid (/proc/N/status), in a namespace of
 * that number and, when `startTicks` was read in this time namespace, started
 * then. True when that cannot be told: not root (other users' processes may
 * be hidden), a kernel without NSpid, a process that cannot be looked at.
 */
export function runsInNamespace(h: { pid: number; pidns?: string; startTicks?: string; timens?: string }): boolean {
  let pids: string[]
  try {
    if (process.getuid?.() !== 0 || !/^NSpid:/m.test(readFileSync('/proc/self/status', 'utf8'))) return true
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return true
  }
  const startComparable = h.startTicks !== undefined && h.timens === ownNamespace('time')
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const nspids = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? []
      // One pid: a process of the initial namespace. A zombie has ended (its parent, gone with the container, may never reap it).
      if (nspids.length < 2 || nspids.at(-1) !== String(h.pid) || /^State:\s*Z/m.test(status)) continue
      if (readlinkSync(`/proc/${pid}/ns/pid`) !== h.pidns || exiting(pid)) continue
      if (!startComparable || startTicks(Number(pid)) === h.startTicks) return true
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) continue // it ended meanwhile
      return true
    }
  }
  return false
}

/**
 * Whether a process is ending (PF_EXITING in the flags of /proc/N/stat): a
 * container's pid 1 that was killed waits so, in state D, for the rest of
 * its namespace.
 */
function exiting(pid: string): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]) & 0x4) !== 0
}

