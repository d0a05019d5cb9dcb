import fs from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { openObjectStore, type ObjectStore } from './git-objects.js'
import type { ReadObject } from './git-pack.js'

/**
 * The cache of one overlay: a bare git repository (objects/pack, refs/heads,
 * HEAD, shallow) that native git reads as well. Every file olm changes is
 * replaced by rename, so a reader sees the old or the new content.
 */
export interface StoreState {
  /** e.g. refs/heads/master, from HEAD. */
  ref: string | null
  commit: string | null
  shallow: string[]
}

/** Exact file contents to put back when a fetch fails; null = the file did not exist. */
export interface StoreSnapshot {
  files: Map<string, string | null>
}

export async function initStore(cacheDir: string, url: string): Promise<void> {
  for (const sub of ['objects/pack', 'objects/info', 'refs/heads', 'refs/tags'])
    await mkdir(path.join(cacheDir, sub), { recursive: true })
  const config = `[core]\n\trepositoryformatversion = 0\n\tbare = true\n[remote "origin"]\n\turl = ${url}\n`
  await writeAtomic(path.join(cacheDir, 'config'), config)
  if (!fs.existsSync(path.join(cacheDir, 'HEAD'))) await writeAtomic(path.join(cacheDir, 'HEAD'), 'ref: refs/heads/master\n')
}

export async function readState(cacheDir: string): Promise<StoreState> {
  const head = await readOptional(path.join(cacheDir, 'HEAD'))
  const ref = head?.startsWith('ref: ') ? head.slice(5).trim() : null
  const commit = ref ? ((await readOptional(path.join(cacheDir, ref)))?.trim() ?? null) : (head?.trim() ?? null)
  const shallowText = (await readOptional(path.join(cacheDir, 'shallow'))) ?? ''
  return { ref, commit: commit || null, shallow: shallowText.split('\n').filter(Boolean) }
}

/** Snapshot of HEAD, the branch ref and shallow: all a fetch ever rewrites besides new pack files. */
export async function snapshotStore(cacheDir: string, ref: string): Promise<StoreSnapshot> {
  const files = new Map<string, string | null>()
  for (const rel of ['HEAD', 'shallow', ref]) files.set(rel, await readOptional(path.join(cacheDir, rel)))
  return { files }
}

export async function restoreStore(cacheDir: string, snap: StoreSnapshot): Promise<void> {
  for (const [rel, content] of snap.files) {
    const file = path.join(cacheDir, rel)
    if (content === null) await rm(file, { force: true })
    else await writeAtomic(file, content)
  }
}

/** Points HEAD at ref, ref at commit, and records the shallow boundary. */
export async function commitState(cacheDir: string, ref: string, commit: string, shallow: string[]): Promise<void> {
  await writeAtomic(path.join(cacheDir, 'shallow'), [...new Set(shallow)].map((s) => `${s}\n`).join(''))
  await mkdir(path.dirname(path.join(cacheDir, ref)), { recursive: true })
  await writeAtomic(path.join(cacheDir, ref), `${commit}\n`)
  await writeAtomic(path.join(cacheDir, 'HEAD'), `ref: ${ref}\n`)
}

export async function listPacks(cacheDir: string): Promise<string[]> {
  const names = await readdir(path.join(cacheDir, 'objects/pack')).catch(() => [] as string[])
  return names.filter((n) => /^pack-[0-9a-f]{40}\.pack$/.test(n))
}

/**
 * Moves a pack written elsewhere in cacheDir (same filesystem) into place,
 * then writes its idx (readers discover packs through the idx). Returns the
 * files it created, for rollback; files already present (the same pack
 * fetched twice) are left alone and not returned.
 */
export async function installPack(cacheDir: string, checksum: string, packFile: string, idx: Buffer): Promise<string[]> {
  const created: string[] = []
  const base = path.join(cacheDir, 'objects/pack', `pack-${checksum}`)
  if (fs.existsSync(`${base}.pack`)) await rm(packFile, { force: true })
  else {
    await rename(packFile, `${base}.pack`)
    created.push(`${base}.pack`)
  }
  if (!fs.existsSync(`${base}.idx`)) {
    created.push(`${base}.idx`)
    await writeAtomic(`${base}.idx`, idx, 0o444)
  }
  return created
}

/** Where a fetch streams its pack before it is verified: in cacheDir, so the final rename stays on one filesystem. */
export function incomingPackFile(cacheDir: string): string {
  return path.join(cacheDir, `olm-incoming-${process.pid}-${tmpCounter++}.pack`)
}

/** Removes packs left by a fetch that was killed mid-download (runs are serialized by the sync lock). */
export async function removeStaleIncoming(cacheDir: string): Promise<void> {
  const names = await readdir(cacheDir).catch(() => [] as string[])
  await Promise.all(names.filter((n) => /^olm-incoming-.*\.pack$/.test(n)).map((n) => rm(path.join(cacheDir, n), { force: true })))
}

/** Object reader over the existing cache, for thin-pack bases (see ReadObject); close() releases its pack files. */
export function storeObjectReader(cacheDir: string): ReadObject & { close(): void } {
  let store: ObjectStore | undefined
  const read = async (oid: string) => (store ??= openObjectStore(cacheDir)).read(oid)
  const whole = (oid: string) => (store ??= openObjectStore(cacheDir)).wholeObject(oid)
  return Object.assign(read, { whole, close: () => store?.close() })
}

let tmpCounter = 0
async function writeAtomic(file: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${file}.olm-tmp-${process.pid}-${tmpCounter++}`
  try {
    await writeFile(tmp, content, { mode })
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}
