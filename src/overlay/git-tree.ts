import { OlmError } from '../errors.js'
import { entryFromListing, type OverlayTree, type TreeEntry, type TreeEntryType } from './tree.js'
import { readState } from './git-store.js'
import { openObjectStore, type ObjectStore } from './git-objects.js'

/**
 * An OverlayTree reading straight from a git source's object store at one
 * commit (default: the cached branch head). Modes map as git stores them:
 * 100755 → executable file, 120000 → symlink, 040000 → dir, 160000 (gitlink)
 * → 'other'; any other mode is refused. Trees are memoized per path.
 */
export async function openGitTree(cacheDir: string, overlay: string, commit?: string): Promise<OverlayTree> {
  const oid = commit ?? (await readState(cacheDir)).commit
  if (!oid) throw new OlmError('REF_NOT_FOUND', `no cached commit for overlay '${overlay}' in ${cacheDir}`, { overlay })
  const store = openObjectStore(cacheDir)
  const rootTree = commitTree(readTyped(store, oid, 'commit'))
  const trees = new Map<string, GitTreeEntry[] | null>()

  const treeAt = (relPath: string): GitTreeEntry[] | null => {
    let found = trees.get(relPath)
    if (found === undefined) {
      // The root is parsed on first use, so a hostile root tree fails inside a read (where fetch.ts guards) like any other.
      const e = relPath === '' ? { mode: '040000', oid: rootTree } : entryAt(relPath)
      found = e?.mode === '040000' ? parseTree(readTyped(store, e.oid, 'tree')) : null
      trees.set(relPath, found)
    }
    return found
  }
  const entryAt = (relPath: string): GitTreeEntry | null => {
    const slash = relPath.lastIndexOf('/')
    const parent = treeAt(slash < 0 ? '' : relPath.slice(0, slash))
    const name = relPath.slice(slash + 1)
    // The last of a name, as entryFromListing finds it: a tree that names an entry twice (no git
    // writes one) must not show one id to the witness and hand another's bytes to the copy.
    return parent?.findLast((e) => e.path === name) ?? null
  }
  const blobOf = (relPath: string, mode: 'file' | 'symlink'): Buffer | null => {
    const e = entryAt(normalize(relPath))
    if (!e || typeOf(e.mode) !== mode) return null
    return readTyped(store, e.oid, 'blob')
  }

  const listings = new Map<string, TreeEntry[] | null>()
  const tree: OverlayTree = {
    overlay,
    commit: oid,
    async readDir(relPath) {
      const key = normalize(relPath)
      let listing = listings.get(key)
      if (listing === undefined) {
        const entries = treeAt(key)
        listing = entries?.map(listed).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) ?? null
        listings.set(key, listing)
      }
      return listing
    },
    readFile: async (relPath) => blobOf(relPath, 'file'),
    readLink: async (relPath) => blobOf(relPath, 'symlink')?.toString('utf8') ?? null,
    entry: (relPath) => entryFromListing(tree, normalize(relPath)),
  }
  // OverlayTree has no close(): the pack files are released when the tree is collected.
  openStores.register(tree, store)
  return tree
}

const openStores = new FinalizationRegistry<ObjectStore>((store) => store.close())

export interface GitTreeEntry {
  mode: string
  path: string
  oid: string
}

/**
 * Why a tree was refused: a name git itself calls unsafe, a mode git never
 * writes (setuid, 0777 ...), or bytes that are no tree at all. fetch.ts's
 * guardTree turns these into UNSAFE_PATH naming the overlay and the entry.
 */
export class GitTreeError extends Error {
  override readonly name = 'GitTreeError'
  constructor(
    readonly reason: 'unsafe-name' | 'bad-mode' | 'malformed',
    /** the offending name or mode */
    readonly detail: string,
    message: string,
  ) {
    super(message)
  }
}

const MODES = new Set(['040000', '100644', '100755', '120000', '160000'])

/** Parses a tree object: entries of `mode SP name NUL 20-byte-oid`. */
export function parseTree(data: Buffer): GitTreeEntry[] {
  const out: GitTreeEntry[] = []
  for (let p = 0; p < data.length; ) {
    const space = data.indexOf(32, p)
    const nul = data.indexOf(0, space + 1)
    if (space < 0 || nul < 0 || nul + 21 > data.length) throw new GitTreeError('malformed', String(p), `tree object is malformed at byte ${p}`)
    let mode = data.toString('latin1', p, space)
    if (mode === '40000') mode = '040000'
    if (!MODES.has(mode)) throw new GitTreeError('bad-mode', mode, `unexpected tree entry mode ${mode}`)
    const path = data.toString('utf8', space + 1, nul)
    assertSafeName(path)
    out.push({ mode, path, oid: data.toString('hex', nul + 1, nul + 21) })
    p = nul + 21
  }
  return out
}

/**
 * Git's verify_path() rules for one entry name: no separators, nothing that
 * aliases "." or ".." (names of only dots and spaces), no ".git" in its NTFS
 * or HFS+ spellings.
 */
function assertSafeName(name: string): void {
  // Nearly every name of an overlay: none of these can alias ".", "..", ".git" or "git~1" (no
  // leading dot, no "~", nothing zero-width), and trees are parsed by the hundred per resolve.
  if (PLAIN_NAME.test(name)) return
  const ntfs = name.replace(/[\u200C-\u200F\u202A-\u202E\u206A-\u206F\uFEFF]/g, '').split(':')[0]!
  const normalized = stripTrailingDotsAndSpaces(ntfs.toLowerCase())
  if (name.includes('/') || name.includes('\\') || (normalized === '' && ntfs !== '') || normalized === '.git' || /^\.?git~[1-9]$/.test(normalized) || name === '')
    throw new GitTreeError('unsafe-name', name, `the file name "${name}" contains unsafe character sequences`)
}

const PLAIN_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/

/** A backward scan: the regex /[. ]+$/ is quadratic on a long run of dots followed by something else. */
function stripTrailingDotsAndSpaces(name: string): string {
  let end = name.length
  while (end > 0 && (name.charCodeAt(end - 1) === 46 || name.charCodeAt(end - 1) === 32)) end--
  return name.slice(0, end)
}

function readTyped(store: ObjectStore, oid: string, type: 'commit' | 'tree' | 'blob'): Buffer {
  const obj = store.read(oid)
  if (!obj) throw new Error(`object ${oid} is missing from the cache`)
  if (obj.type !== type) throw new Error(`object ${oid} is a ${obj.type}, expected a ${type}`)
  return obj.data
}

/** The tree id of a commit object (its first header line). */
export function commitTree(data: Buffer): string {
  const m = /^tree ([0-9a-f]{40})\n/.exec(data.toString('latin1', 0, 46))
  if (!m) throw new Error('commit object has no tree line')
  return m[1]!
}

/**
 * A tree entry as a listing shows it. Built plainly, not by spreading an
 * optional id in: md5-cache directories of hundreds of entries are listed to
 * find one, and the spread made an object twice per entry.
 */
function listed(e: GitTreeEntry): TreeEntry {
  const type = typeOf(e.mode)
  const entry: TreeEntry = { name: e.path, type, executable: e.mode === '100755' }
  if (type === 'dir' || type === 'file') entry.id = `git:${e.oid}`
  return entry
}

function typeOf(mode: string): TreeEntryType {
  if (mode === '040000') return 'dir'
  if (mode === '100644' || mode === '100755') return 'file'
  if (mode === '120000') return 'symlink'
  return 'other'
}

function normalize(relPath: string): string {
  // Nearly every path is already plain ("cat/pkg", "metadata/md5-cache/cat/pkg-1"): three
  // replaces per read were ~10 ms of a 1,157-package resolve, for nothing.
  if (!relPath.startsWith('./') && !relPath.endsWith('/') && !relPath.includes('//')) return relPath
  return relPath.replace(/^\.\/+/, '').replace(/\/+$/, '').replace(/\/{2,}/g, '/')
}
