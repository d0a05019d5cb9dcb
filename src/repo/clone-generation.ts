import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import type { FileList } from './file-list.js'
import type { PlanEntry } from './plan.js'

/**
 * Builds a new generation as a hard-linked clone of the previous one, then
 * patched: a sync that changes a few packages of a large repository makes
 * every other file a hard link either way, and coreutils does that for the
 * whole tree in a few processes (`cp -al`: 0.33 s for 10,000 files on the
 * bench VM, where one node fs call per file took 0.8-1.6 s). `find -printf` lists
 * the previous generation first, so a file that no longer matches its list
 * (size, mode, mtime) is written again instead of shared.
 */
export interface CloneTools {
  /** Every entry of a generation by path: type f/d/l, size, permission bits, mtime. */
  list(dir: string): Promise<Map<string, FoundEntry> | null>
  /** `weights`: how many files each top-level entry of `from` holds, to share the work out evenly */
  clone(from: string, to: string, weights?: ReadonlyMap<string, number>): Promise<void>
  /** Removes whole trees (old generations); absent: node's fs.rm. */
  removeTrees?(paths: string[]): Promise<void>
}

export interface FoundEntry {
  type: string
  size: number
  mode: number
  /** mtime in ns, as fs.Stats' mtimeNs says it */
  mtime: string
}

/** The system's cp and find (and rm), by absolute path; null where cp or find is missing. */
export function systemCloneTools(): CloneTools | null {
  const cp = ['/bin/cp', '/usr/bin/cp'].find((p) => existsSync(p))
  const find = ['/usr/bin/find', '/bin/find'].find((p) => existsSync(p))
  const rm = ['/bin/rm', '/usr/bin/rm'].find((p) => existsSync(p))
  if (!cp || !find) return null
  return {
    ...(rm ? { removeTrees: async (paths: string[]) => void (await run(rm, ['-rf', '--', ...paths])) } : {}),
    // GNU find's -printf; elsewhere (busybox) find fails and olm writes file by file.
    list: async (dir) => {
      const out = await run(find, [dir, '-mindepth', '1', '-printf', '%y %s %m %T@ %P\\0']).catch(() => null)
      return out === null ? null : parseFound(out)
    },
    // Several cp at once over the top-level entries, shared out by their file counts: the links are
    // made in different directories, which the kernel does in parallel (10,000 files on the bench
    // VM: 190-270 ms with one cp, 125-145 ms with two).
    clone: async (from, to, weights) => {
      const groups = shareOut(await readdir(from), (name) => weights?.get(name) ?? 1, CLONE_PROCESSES)
      const runs = await Promise.allSettled(groups.map((names) => run(cp, ['-al', '--', ...names.map((n) => path.join(from, n)), to])))
      // Every cp has ended before the caller may remove a failed clone.
      const failed = runs.find((r) => r.status === 'rejected')
      if (failed) throw (failed as PromiseRejectedResult).reason
    },
  }
}

const CLONE_PROCESSES = Math.max(1, Math.min(4, availableParallelism()))

/** Items in at most `n` non-empty groups of near-equal total weight (largest first, each to the lightest group). */
export function shareOut<T>(items: readonly T[], weight: (item: T) => number, n: number): T[][] {
  const groups = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, () => ({ items: [] as T[], total: 0 }))
  for (const item of [...items].sort((a, b) => weight(b) - weight(a))) {
    const lightest = groups.reduce((min, g) => (g.total < min.total ? g : min))
    lightest.items.push(item)
    lightest.total += weight(item)
  }
  return groups.map((g) => g.items).filter((g) => g.length > 0)
}

/**
 * `find -printf '%y %s %m %T@ %P\0'` records; one that is not such a record is left out. By hand,
 * not by a regular expression: 10,000 records ~20 -> ~8 ms. %T@ is seconds with a fraction (GNU
 * find prints ten digits of it): as ns, the way fs.Stats' mtimeNs says it.
 */
export function parseFound(out: string): Map<string, FoundEntry> {
  const found = new Map<string, FoundEntry>()
  for (const record of out.split('\0')) {
    const b = record.indexOf(' ', 2)
    const c = record.indexOf(' ', b + 1)
    const d = record.indexOf(' ', c + 1)
    if (record[1] !== ' ' || record[0] === ' ' || b <= 2 || c <= b + 1 || d <= c + 1 || d + 1 >= record.length) continue
    if (!allIn(record, 2, b, 48, 57) || !allIn(record, b + 1, c, 48, 55)) continue
    // An mtime that is no such number (one before 1970, which find prints wrongly) is one no list
    // names: the file is written again. Leaving it out would leave it in the way of that write.
    const mtime = nanoseconds(record.slice(c + 1, d)) ?? ''
    found.set(record.slice(d + 1), { type: record[0]!, size: Number(record.slice(2, b)), mode: parseInt(record.slice(b + 1, c), 8), mtime })
  }
  return found
}

/** "1795985026.4287177280" as "1795985026428717728"; null for what is no such number. */
function nanoseconds(t: string): string | null {
  const dot = t.indexOf('.')
  const whole = dot < 0 ? t : t.slice(0, dot)
  const fraction = dot < 0 ? '' : t.slice(dot + 1)
  if (whole === '' || !allIn(whole, 0, whole.length, 48, 57) || !allIn(fraction, 0, fraction.length, 48, 57)) return null
  return BigInt(whole + fraction.padEnd(9, '0').slice(0, 9)).toString()
}

/** Whether every character of s in [from, to) has a code in [lo, hi]. */
function allIn(s: string, from: number, to: number, lo: number, hi: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) < lo || s.charCodeAt(i) > hi) return false
  return true
}

export interface Patch {
  /** files the clone already holds as they should be, with their list entries */
  kept: FileList
  /** files and symlinks to remove from the clone */
  remove: string[]
  /** directories to remove with all they hold (the top-most of those no entry needs) */
  removeDirs: string[]
  /** entries to write into the clone */
  write: PlanEntry[]
}

/**
 * What turns a clone of the previous generation (`found`, its `list`) into
 * the plan's. A file is kept when the list names the same content and mode
 * and the file still has the listed size, mode and mtime (an edit in place may
 * keep the size; a list without mtimes keeps nothing); symlinks are always
 * written again (there are few).
 */
export function patchFor(entries: readonly PlanEntry[], list: FileList, found: ReadonlyMap<string, FoundEntry>): Patch {
  const kept: FileList = new Map()
  const write: PlanEntry[] = []
  const needed = new Set<string>()
  for (const e of entries) {
    for (let d = parentOf(e.relPath); d !== '' && !needed.has(d); d = parentOf(d)) needed.add(d)
    const listed = e.kind === 'file' ? list.get(e.relPath) : undefined
    const f = found.get(e.relPath)
    const same =
      e.kind === 'file' &&
      listed?.id === e.id &&
      listed.executable === e.executable &&
      f?.type === 'f' &&
      f.size === listed.size &&
      f.mode === (e.executable ? 0o755 : 0o644) &&
      f.mtime === listed.mtime
    if (same) kept.set(e.relPath, listed)
    else write.push(e)
  }
  const remove: string[] = []
  const removeDirs: string[] = []
  for (const [rel, f] of found) {
    const parent = parentOf(rel)
    if (f.type === 'd') {
      if (!needed.has(rel) && (parent === '' || needed.has(parent))) removeDirs.push(rel)
    } else if (!kept.has(rel) && (parent === '' || needed.has(parent))) remove.push(rel)
  }
  return { kept, remove, removeDirs, write }
}

/** The directory of a relative path, "" at the top (path.posix.dirname says "."). */
const parentOf = (rel: string) => rel.slice(0, Math.max(0, rel.lastIndexOf('/')))

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { LC_ALL: 'C' } })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(Object.assign(new Error(`${file} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${err.trim() || 'no message'}`), { code: 'EIO' }))
    })
  })
}
