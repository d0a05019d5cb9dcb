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
 * A directory's digest covers its names, types and modes, not what its files
 * hold: every file whose bytes matter is read or looked up by itself, and
 * logged with its id. So a commit that only edits a license or a package olm
 * never copies, even in a directory olm lists, changes no digest.
 */
export type OverlayReadKind = 'dir' | 'link' | 'entry'

export type OverlayRead = LoggedRead<OverlayReadKind>

const ABSENT = '-'

function listingDigest(entries: readonly TreeEntry[] | null): string {
  if (entries === null) return ABSENT
  const h = createHash('sha256')
  for (const e of entries) h.update(`${e.name}\0${e.type}\0${e.executable ? 'x' : '-'}\n`)
  return h.digest('hex')
}

const entryDigest = (e: TreeEntry | null) => (e === null ? ABSENT : `${e.type}:${e.executable ? 'x' : '-'}:${e.type === 'file' ? (e.id ?? '') : ''}`)

/** The tree, with every read logged. Answers are the tree's own. */
export function loggingTree(tree: OverlayTree, log: OverlayReadLog): OverlayTree {
  return {
    overlay: tree.overlay,
    commit: tree.commit,
    async readDir(relPath) {
      const entries = await tree.readDir(relPath)
      log.record('dir', relPath, listingDigest(entries))
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
 * Whether every logged read gives the same answer in `tree` (another commit
 * of the same overlay); reads no file's bytes. With `logged`, the tree at the
 * commit the reads were logged at, reads under a directory whose id is the
 * same in both trees are not repeated: nothing below it can differ.
 */
export async function overlayReadsUnchanged(tree: OverlayTree, reads: readonly OverlayRead[], logged?: OverlayTree | null): Promise<boolean> {
  const dirOf = (kind: OverlayReadKind, path: string) => (kind === 'dir' ? path : path.slice(0, Math.max(0, path.lastIndexOf('/'))))
  // Decided once per directory, parents first, so a whole unchanged category costs one comparison.
  const unchanged = new Map<string, boolean>()
  if (logged) {
    const dirs = [...new Set(reads.map(([kind, path]) => dirOf(kind, path)))].filter((d) => d !== '')
    for (const dir of dirs.sort((a, b) => a.split('/').length - b.split('/').length)) {
      const parts = dir.split('/')
      let same = false
      for (let i = 1; i <= parts.length && !same; i++) {
        const d = parts.slice(0, i).join('/')
        let known = unchanged.get(d)
        if (known === undefined) {
          const [was, now] = await Promise.all([logged.entry(d), tree.entry(d)])
          known = was?.type === 'dir' && was.id !== undefined && now?.type === 'dir' && now.id === was.id
          unchanged.set(d, known)
        }
        same = known
      }
      unchanged.set(dir, same)
    }
  }
  for (const [kind, path, digest] of reads) {
    if (unchanged.get(dirOf(kind, path))) continue
    let now: string
    if (kind === 'dir') now = listingDigest(await tree.readDir(path))
    else if (kind === 'link') now = (await tree.readLink(path)) ?? ABSENT
    else now = entryDigest(await tree.entry(path))
    if (now !== digest) return false
  }
  return true
}
