import { createHash } from 'node:crypto'
import { type LoggedRead, ReadLog } from '../util/read-log.js'
import type { OverlayTree, TreeEntry } from './tree.js'

/**
 * Every read of an overlay tree, each with a digest of its answer that names
 * the content by id (git blob ids) instead of hashing bytes. Logged while a
 * sync resolves and plans, it says which parts of the overlay the generated
 * repository depends on: when a later commit gives the same answers to the
 * same reads, it would give the same repository, whatever else that commit
 * changed. Only trees whose entries carry content ids (git) can be logged.
 *
 * A directory's digest ('dir') covers its names, types and modes, not what
 * its files hold: every file whose bytes matter is read or looked up by
 * itself, and logged with its id. So a commit that only edits a license or a
 * package olm never copies, even in a directory olm lists, changes no digest.
 * The one exception is asked for: a listing whose files are copied by their
 * ids (a package directory, by the plan) is logged with them ('files'), one
 * read instead of one per file. Its ebuilds a narrowed request leaves out
 * count too: an edit of one costs a full resolution, never a stale copy.
 */
export type OverlayReadKind = 'dir' | 'files' | 'link' | 'entry'

export type OverlayRead = LoggedRead<OverlayReadKind>

const ABSENT = '-'

function listingDigest(entries: readonly TreeEntry[] | null, ids = false): string {
  if (entries === null) return ABSENT
  let text = ''
  for (const e of entries) text += `${e.name}\0${e.type}\0${e.executable ? 'x' : '-'}${ids && e.type === 'file' ? `\0${e.id ?? ''}` : ''}\n`
  return createHash('sha256').update(text).digest('hex')
}

const entryDigest = (e: TreeEntry | null) => (e === null ? ABSENT : `${e.type}:${e.executable ? 'x' : '-'}:${e.type === 'file' ? (e.id ?? '') : ''}`)

/** The tree, with every read logged. Answers are the tree's own. */
export function loggingTree(tree: OverlayTree, log: OverlayReadLog): OverlayTree {
  return {
    overlay: tree.overlay,
    commit: tree.commit,
    unlogged: tree,
    async readDir(relPath) {
      const entries = await tree.readDir(relPath)
      log.record('dir', relPath, listingDigest(entries))
      return entries
    },
    async readDirWithIds(relPath) {
      const entries = await tree.readDir(relPath)
      log.record('files', relPath, listingDigest(entries, true))
      return entries
    },
    async readFile(relPath) {
      const bytes = await tree.readFile(relPath)
      // What is at the path, by id: the same record a lookup of the entry makes.
      log.record('entry', relPath, entryDigest(await tree.entry(relPath)))
      return bytes
    },
    async readLink(relPath) {
      const target = await tree.readLink(relPath)
      log.record('link', relPath, target ?? ABSENT)
      return target
    },
    async entry(relPath) {
      const e = await tree.entry(relPath)
      log.record('entry', relPath, entryDigest(e))
      return e
    },
  }
}

export class OverlayReadLog extends ReadLog<OverlayReadKind> {}

/**
 * Overlay reads as a witness keeps them, as bytes: a first line indexing the
 * groups (the top-level directory the reads are under: a category, eclass,
 * metadata...) by [name, start, end], then each group's reads as JSON at
 * those offsets. A later commit leaves most top-level directories as they
 * were; their groups are neither decoded nor parsed. Parsed up front, the
 * 11,600 reads of a 1,157-package closure made a check that an unrelated bump
 * changed nothing spend more time in the garbage collector than in
 * comparing; kept as JSON strings inside JSON, each had to be unescaped.
 */
const topOf = (path: string) => path.split('/', 1)[0]!

export function encodeReads(reads: readonly OverlayRead[]): Buffer {
  const groups = new Map<string, OverlayRead[]>()
  for (const read of reads) {
    const top = topOf(read[1])
    const group = groups.get(top)
    if (group) group.push(read)
    else groups.set(top, [read])
  }
  const bodies = [...groups].map(([top, group]) => [top, Buffer.from(JSON.stringify(group))] as const)
  let at = 0
  const index = bodies.map(([top, body]) => [top, at, (at += body.length)])
  return Buffer.concat([Buffer.from(JSON.stringify(index) + '\n'), ...bodies.map(([, body]) => body)])
}

/**
 * Whether every logged read gives the same answer in `tree` (another commit
 * of the same overlay); reads no file's bytes. With `logged`, the tree at the
 * commit the reads were logged at, reads under a directory whose id is the
 * same in both trees are not repeated: nothing below it can differ. Throws
 * on encoded reads that are damaged.
 */
export async function overlayReadsUnchanged(tree: OverlayTree, encoded: Buffer, logged?: OverlayTree | null): Promise<boolean> {
  const nl = encoded.indexOf(10)
  if (nl < 0) throw new Error('no index of the reads')
  const index = JSON.parse(encoded.toString('utf8', 0, nl)) as unknown
  const body = encoded.subarray(nl + 1)
  if (!Array.isArray(index)) throw new Error('the index of the reads is not a list')
  // The groups cover the body, each after the last, once each: a damaged index must not drop reads.
  const seen = new Set<string>()
  let covered = 0
  for (const entry of index as unknown[]) {
    const [top, start, end] = Array.isArray(entry) ? entry : []
    if (typeof top !== 'string' || top.includes('/') || seen.has(top) || start !== covered || !Number.isInteger(end) || end < start || end > body.length) throw new Error('damaged index of the reads')
    seen.add(top)
    covered = end
  }
  if (covered !== body.length) throw new Error('damaged index of the reads')
  const now = entryLookup(tree)
  const was = logged ? entryLookup(logged) : null
  for (const [top, start, end] of index as [string, number, number][]) {
    if (was && top !== '' && (await sameDir(was, now, top))) continue
    if (!(await readsUnchanged(tree, now, JSON.parse(body.toString('utf8', start, end)) as OverlayRead[], was))) return false
  }
  return true
}

/** An entry by path: at once when its directory was listed before (see entryLookup). */
type EntryLookup = (relPath: string) => TreeEntry | null | Promise<TreeEntry | null>

/**
 * tree.entry, with each directory's listing indexed once by name: a check
 * after an unrelated bump of the bench overlay compared ~1,100 entries, and
 * an awaited tree.entry for each was most of its 40-60 ms (run once per sync,
 * so mostly by the interpreter). Paths a tree would normalize go to tree.entry.
 * Not for a loggingTree: its listings are logged as 'dir' reads, whose digests
 * hold no ids, where an entry lookup must log the entry with its id.
 */
function entryLookup(tree: OverlayTree): EntryLookup {
  const dirs = new Map<string, Map<string, TreeEntry> | null>()
  const listed = async (dir: string, name: string) => {
    const listing = await tree.readDir(dir)
    const byName = listing && new Map(listing.map((e) => [e.name, e]))
    dirs.set(dir, byName)
    return byName?.get(name) ?? null
  }
  return (relPath) => {
    if (relPath === '' || relPath.startsWith('./') || relPath.endsWith('/') || relPath.includes('//')) return tree.entry(relPath)
    const slash = relPath.lastIndexOf('/')
    const dir = slash < 0 ? '' : relPath.slice(0, slash)
    const byName = dirs.get(dir)
    if (byName === undefined) return listed(dir, relPath.slice(slash + 1))
    return byName?.get(relPath.slice(slash + 1)) ?? null
  }
}

/** Whether dir is the same directory, by id, in both trees; at once when both parents were listed. */
function sameDir(was: EntryLookup, now: EntryLookup, dir: string): boolean | Promise<boolean> {
  const same = (a: TreeEntry | null, b: TreeEntry | null) => a?.type === 'dir' && a.id !== undefined && b?.type === 'dir' && b.id === a.id
  const a = was(dir)
  const b = now(dir)
  return a instanceof Promise || b instanceof Promise ? Promise.all([a, b]).then(([x, y]) => same(x, y)) : same(a, b)
}

async function readsUnchanged(tree: OverlayTree, now: EntryLookup, reads: readonly OverlayRead[], was: EntryLookup | null): Promise<boolean> {
  const dirOf = (kind: OverlayReadKind, path: string) => (kind === 'dir' || kind === 'files' ? path : path.slice(0, Math.max(0, path.lastIndexOf('/'))))
  // Decided once per directory, parents first, so a whole unchanged package costs one comparison.
  const unchanged = new Map<string, boolean>()
  if (was) {
    const dirs = [...new Set(reads.map(([kind, path]) => dirOf(kind, path)))].filter((d) => d !== '')
    for (const dir of dirs.sort((a, b) => a.split('/').length - b.split('/').length)) {
      const parts = dir.split('/')
      let same = false
      for (let i = 1; i <= parts.length && !same; i++) {
        const d = parts.slice(0, i).join('/')
        let known = unchanged.get(d)
        if (known === undefined) {
          const answer = sameDir(was, now, d)
          known = answer instanceof Promise ? await answer : answer
          unchanged.set(d, known)
        }
        same = known
      }
      unchanged.set(dir, same)
    }
  }
  for (const [kind, path, digest] of reads) {
    if (unchanged.get(dirOf(kind, path))) continue
    let answer: string
    if (kind === 'dir' || kind === 'files') answer = listingDigest(await tree.readDir(path), kind === 'files')
    else if (kind === 'link') answer = (await tree.readLink(path)) ?? ABSENT
    else {
      const found = now(path)
      answer = entryDigest(found instanceof Promise ? await found : found)
    }
    if (answer !== digest) return false
  }
  return true
}
