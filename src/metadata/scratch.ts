/**
 * The scratch directory bash works in. Overlays may live in a git object
 * store, so what bash sources (the ebuild and the overlay's eclasses) is
 * written out here first.
 *
 *   <root>/work                    cwd of the workers (never written)
 *   <root>/m<N>/                   eclasses of the masters (a snapshot, so bash
 *                                  sources exactly the bytes whose md5 is recorded)
 *   <root>/o<N>/eclass/            one overlay's eclasses (read-only once filled)
 *   <root>/o<N>/<cat>/<pn>/<file>  its ebuilds (read-only files)
 *
 * Everything is readable by the unprivileged evaluation user and writable
 * only by olm. Files are read-only and directories of eclasses closed, so an
 * ebuild evaluated as olm's own user cannot alter what later ebuilds source
 * (bash has no chmod, and the harness forbids external commands).
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { OverlayTree } from '../overlay/tree.js'

export interface Scratch {
  readonly rootDir: string
  readonly workDir: string
  /** Writes a master's eclasses (name → bytes) into a new closed directory and returns it. */
  masterEclassDir(eclasses: ReadonlyMap<string, Buffer>): Promise<string>
  /** The overlay's eclass directory, written on first use. */
  eclassDir(tree: OverlayTree): Promise<string>
  /** Writes the ebuild (replacing an earlier copy) and returns its absolute path. */
  ebuildFile(tree: OverlayTree, relPath: string, bytes: Buffer): Promise<string>
  remove(): Promise<void>
}

export async function createScratch(parentDir: string): Promise<Scratch> {
  const rootDir = await mkdtemp(path.join(parentDir, 'olm-metadata-'))
  await chmod(rootDir, 0o755) // mkdtemp makes it 0700: the evaluation user must get in
  const workDir = path.join(rootDir, 'work')
  await mkdir(workDir, { mode: 0o755 })
  const overlayDirs = new Map<string, string>()
  const eclassDirs = new Map<string, Promise<string>>()
  const madeDirs = new Set<string>()
  let masters = 0

  const overlayDir = async (tree: OverlayTree): Promise<string> => {
    const key = `${tree.overlay}\0${tree.commit}`
    let dir = overlayDirs.get(key)
    if (!dir) {
      dir = path.join(rootDir, `o${overlayDirs.size}`)
      overlayDirs.set(key, dir)
      await mkdir(dir, { recursive: true, mode: 0o755 })
    }
    return dir
  }

  return {
    rootDir,
    workDir,
    masterEclassDir(eclasses) {
      const dir = path.join(rootDir, `m${masters++}`)
      const p = writeEclassDir(dir, eclasses)
      eclassDirs.set(dir, p)
      return p
    },
    eclassDir(tree) {
      const key = `${tree.overlay}\0${tree.commit}`
      let p = eclassDirs.get(key)
      if (!p) eclassDirs.set(key, (p = overlayDir(tree).then((dir) => writeEclasses(tree, path.join(dir, 'eclass')))))
      return p
    },
    async ebuildFile(tree, relPath, bytes) {
      const file = path.join(await overlayDir(tree), ...relPath.split('/'))
      const dir = path.dirname(file)
      if (!madeDirs.has(dir)) await mkdir(dir, { recursive: true, mode: 0o755 })
      madeDirs.add(dir)
      await rm(file, { force: true })
      await writeFile(file, bytes, { mode: 0o444 })
      return file
    },
    async remove() {
      // a closed eclass directory would keep its files from being deleted
      for (const p of eclassDirs.values()) await chmod(await p.catch(() => rootDir), 0o755).catch(() => {})
      await rm(rootDir, { recursive: true, force: true })
    },
  }
}

/** Regular `*.eclass` files only: symlinks are not followed (OverlayTree never does). */
async function writeEclasses(tree: OverlayTree, dir: string): Promise<string> {
  const eclasses = new Map<string, Buffer>()
  for (const entry of (await tree.readDir('eclass')) ?? []) {
    if (entry.type !== 'file' || !entry.name.endsWith('.eclass')) continue
    const bytes = await tree.readFile(`eclass/${entry.name}`)
    if (bytes) eclasses.set(entry.name.slice(0, -'.eclass'.length), bytes)
  }
  return writeEclassDir(dir, eclasses)
}

async function writeEclassDir(dir: string, eclasses: ReadonlyMap<string, Buffer>): Promise<string> {
  await mkdir(dir, { mode: 0o755 })
  for (const [name, bytes] of eclasses) await writeFile(path.join(dir, `${name}.eclass`), bytes, { mode: 0o444 })
  await chmod(dir, 0o555)
  return dir
}
