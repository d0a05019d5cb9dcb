/**
 * A read-only view of one overlay at one commit. The resolver and the writer
 * only ever see overlays through this interface, so a git object store, an
 * extracted tarball and a plain directory look the same to them.
 *
 * Paths are posix, relative to the overlay root, without leading "./" ("" is
 * the root). Implementations never follow symlinks: they report them.
 */
export type TreeEntryType = 'file' | 'dir' | 'symlink' | 'other'

export interface TreeEntry {
  name: string
  type: TreeEntryType
  /** true for a file whose mode has the owner execute bit (git mode 100755). */
  executable: boolean
  /**
   * An id of the content the tree knows without reading it ("git:<oid>": a
   * file's blob, a directory's tree): equal ids, equal bytes (for a
   * directory, equal everything below it). Absent where only reading tells.
   */
  id?: string
}

export interface OverlayTree {
  /** Overlay name as the user wrote it (`guru`, `tenstorrent`). */
  readonly overlay: string
  /** Commit id for git sources, content digest for tarballs and directories. */
  readonly commit: string
  /** Entries of a directory sorted by name, or null when relPath is not a directory. The caller must not modify them. */
  readDir(relPath: string): Promise<TreeEntry[] | null>
  /** Bytes of a regular file, or null when relPath is not a regular file. */
  readFile(relPath: string): Promise<Buffer | null>
  /** Target of a symlink, or null when relPath is not a symlink. */
  readLink(relPath: string): Promise<string | null>
  /** The entry at relPath as its directory lists it, null when there is none ("" has none). */
  entry(relPath: string): Promise<TreeEntry | null>
  /**
   * readDir, for a caller that takes the files' content from their ids (the plan copies a
   * package directory so): a tree that logs its reads logs this one with the ids. Absent where
   * nothing is logged; callers use readDir then.
   */
  readDirWithIds?(relPath: string): Promise<TreeEntry[] | null>
  /** A logging tree's tree, for reading again what a logged read already vouched for (the files a plan writes). */
  readonly unlogged?: OverlayTree
}

/** `entry` for trees that answer it from their parent directory's listing. */
export async function entryFromListing(tree: Pick<OverlayTree, 'readDir'>, relPath: string): Promise<TreeEntry | null> {
  const slash = relPath.lastIndexOf('/')
  const name = relPath.slice(slash + 1)
  if (name === '') return null
  const listing = await tree.readDir(slash < 0 ? '' : relPath.slice(0, slash))
  if (!listing) return null
  // A plan looks up thousands of md5-cache entries in directories of hundreds: by name, not by scan.
  let byName = indexes.get(listing)
  if (!byName) indexes.set(listing, (byName = new Map(listing.map((e) => [e.name, e]))))
  return byName.get(name) ?? null
}

/** Listings are immutable and memoized by the trees, so an index per listing stays valid. */
const indexes = new WeakMap<readonly TreeEntry[], Map<string, TreeEntry>>()

/** Reads a text file, or null when absent. */
export async function readText(tree: OverlayTree, relPath: string): Promise<string | null> {
  const buf = await tree.readFile(relPath)
  return buf === null ? null : buf.toString('utf8')
}

/**
 * Where a symlink of `dir` leads, through at most 8 links that all stay in
 * `dir`: every path passed, the regular file it ends at last. Null when it
 * leaves `dir`, is absolute, dangles or loops.
 */
export async function linkChain(tree: OverlayTree, dir: string, link: string): Promise<string[] | null> {
  const chain: string[] = []
  let at = link
  for (let hops = 0; hops <= 8; hops++) {
    const target = await tree.readLink(at)
    if (target === null) return (await tree.entry(at))?.type === 'file' && chain.length ? chain : null
    const next = linkTargetPath(at, target)
    if (next === null || !next.startsWith(dir + '/')) return null
    chain.push((at = next))
  }
  return null
}

/** The tree path a symlink at `link` names with `target`, resolved lexically; null for an absolute target. */
export function linkTargetPath(link: string, target: string): string | null {
  if (target.startsWith('/')) return null
  const parts = link.split('/').slice(0, -1)
  for (const seg of target.split('/')) {
    if (seg === '..') parts.pop()
    else if (seg !== '' && seg !== '.') parts.push(seg)
  }
  return parts.join('/')
}
