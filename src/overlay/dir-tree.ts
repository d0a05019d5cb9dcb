import { createHash } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import { lstat, open, readdir, readlink } from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import { entryFromListing, type OverlayTree, type TreeEntry, type TreeEntryType } from './tree.js'

/**
 * An OverlayTree over a real directory (an extracted tarball, a local
 * overlay). It never follows a symlink, not even in the middle of a path:
 * "files/link/x" where "link" is a symlink is simply not there. Paths that
 * leave the root ("..", absolute) are refused with UNSAFE_PATH.
 *
 * The directory must not change while the tree is in use (directories found
 * once are remembered).
 */
export function openDirTree(rootDir: string, overlay: string, commit: string): OverlayTree {
  const knownDirs = new Set<string>([''])

  /** Absolute path of relPath when every component above it is a real directory, else null. */
  async function locate(relPath: string): Promise<string | null> {
    const parts = splitRelPath(relPath, overlay)
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      if (knownDirs.has(parent)) continue
      const st = await lstatOrNull(path.join(rootDir, parent))
      if (!st?.isDirectory()) return null
      knownDirs.add(parent)
    }
    return path.join(rootDir, ...parts)
  }

  const tree: OverlayTree = {
    overlay,
    commit,
    entry: (relPath) => entryFromListing(tree, splitRelPath(relPath, overlay).join('/')),
    async readDir(relPath) {
      const dir = await locate(relPath)
      const st = dir === null ? null : await lstatOrNull(dir)
      if (dir === null || !st?.isDirectory()) return null
      const names = (await readdir(dir)).sort(compareNames)
      return Promise.all(names.map((name) => describe(dir, name)))
    },
    async readFile(relPath) {
      const file = await locate(relPath)
      return file === null ? null : readRegularFile(file)
    },
    async readLink(relPath) {
      const link = await locate(relPath)
      const st = link === null ? null : await lstatOrNull(link)
      return link !== null && st?.isSymbolicLink() ? readlink(link) : null
    },
  }
  return tree
}

/**
 * A content digest of a directory, stable across machines and extractions:
 * sha256 over every entry in sorted path order, with its type, its
 * executable bit (other mode bits depend on umask) and its bytes or link
 * target. Used as the "commit" of tarball and directory overlays.
 */
export async function digestDir(rootDir: string): Promise<string> {
  const hash = createHash('sha256')
  await digestInto(hash, rootDir, '')
  return hash.digest('hex')
}

async function digestInto(hash: ReturnType<typeof createHash>, rootDir: string, relDir: string): Promise<void> {
  const names = (await readdir(path.join(rootDir, relDir))).sort(compareNames)
  for (const name of names) {
    const relPath = relDir === '' ? name : `${relDir}/${name}`
    const abs = path.join(rootDir, relPath)
    const st = await lstat(abs)
    const type = entryType(st)
    hash.update(`${type}\0${isExecutable(st) ? 'x' : '-'}\0${relPath}\0`)
    if (type === 'file') {
      const content = await readRegularFile(abs)
      hash.update(`${content!.length}\0`).update(content!)
    } else if (type === 'symlink') {
      hash.update(`${await readlink(abs)}\0`)
    } else if (type === 'dir') {
      await digestInto(hash, rootDir, relPath)
    }
  }
}

/** Splits an overlay-relative path into components, refusing anything that could leave the root. */
export function splitRelPath(relPath: string, overlay?: string): string[] {
  if (relPath === '' || relPath === '.') return []
  const parts = relPath.split('/').filter((p) => p !== '' && p !== '.')
  if (relPath.startsWith('/') || relPath.includes('\0') || parts.includes('..'))
    throw new OlmError('UNSAFE_PATH', `refusing path outside the overlay: "${relPath}"`, overlay ? { overlay } : {})
  return parts
}

export function entryType(st: Stats): TreeEntryType {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  return 'other'
}

function isExecutable(st: Stats): boolean {
  return st.isFile() && (st.mode & 0o100) !== 0
}

async function describe(dir: string, name: string): Promise<TreeEntry> {
  const st = await lstat(path.join(dir, name))
  return { name, type: entryType(st), executable: isExecutable(st) }
}

/** Opened with O_NOFOLLOW and checked after opening, so a swapped-in symlink or fifo is never read. */
async function readRegularFile(file: string): Promise<Buffer | null> {
  let handle
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR' || code === 'EISDIR') return null
    throw err
  }
  try {
    if (!(await handle.stat()).isFile()) return null
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await lstat(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw err
  }
}

/** Byte order of the names, like git trees, so every implementation lists entries alike. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
