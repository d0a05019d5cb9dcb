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
export type OverlayReadKind = 'dir' | 'file' | 'link' | 'entry'

export type OverlayRead = LoggedRead<OverlayReadKind>

const ABSENT = '-'

function listingDigest(entries: readonly TreeEntry[] | null): string {
  if (entries === null) return ABSENT
  const h = createHash('sha256')
  for (const e of entries) h.update(`${e.name}\0${e.type}\0${e.executable ? 'x' : '-'}\n`)
  return h.digest('hex')
}

const entryDigest = (e: TreeEntry | null) => (e === null ? ABSENT : `${e.type}:${e.executable ? 'x' : '-'}:${e.type === 'file' ? (e.id ?? '') : ''}`)

/** A file read's digest: the file's entry (so its id), absent when the path holds no regular file. */
async function fileDigest(tree: OverlayTree, relPath: string): Promise<string> {
  const e = await tree.entry(relPath)
  return e?.type === 'file' ? entryDigest(e) : ABSENT
}

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
      log.record('file', relPath, await fileDigest(tree, relPath))
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
  const sameDir = new Map<string, Promise<boolean>>()
  const unchangedBelow = (dir: string): Promise<boolean> => {
    let same = sameDir.get(dir)
    if (!same) {
      same = (async () => {
        const slash = dir.lastIndexOf('/')
        if (slash >= 0 && (await unchangedBelow(dir.slice(0, slash)))) return true
        const [was, now] = await Promise.all([logged!.entry(dir), tree.entry(dir)])
        return was?.type === 'dir' && was.id !== undefined && now?.type === 'dir' && now.id === was.id
      })()
      sameDir.set(dir, same)
    }
    return same
  }
  for (const [kind, path, digest] of reads) {
    const dir = kind === 'dir' ? path : path.slice(0, Math.max(0, path.lastIndexOf('/')))
    if (logged && dir !== '' && (await unchangedBelow(dir))) continue
    let now: string
    if (kind === 'dir') now = listingDigest(await tree.readDir(path))
    else if (kind === 'file') now = await fileDigest(tree, path)
    else if (kind === 'link') now = (await tree.readLink(path)) ?? ABSENT
    else now = entryDigest(await tree.entry(path))
    if (now !== digest) return false
  }
  return true
}
