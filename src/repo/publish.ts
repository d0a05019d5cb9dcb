import { randomBytes } from 'node:crypto'
import { chmodSync, lstatSync, writeFileSync } from 'node:fs'
import nodeFs from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import { isErrno } from '../config/load.js'
import { type CloneTools, type FoundEntry, type Patch, patchFor, systemCloneTools } from './clone-generation.js'
import { type FileList, placeFileList, readFileList, removeFileList, removePlacedList, writeFileList } from './file-list.js'
import { type Flush, systemFlush } from './flush.js'
import { acquireLock, type Lock, type LockOptions } from './lock.js'
import { contentId, type FileEntry, type PlanEntry, type WritePlan } from './plan.js'

/**
 * The fs calls publishing uses; tests wrap it to inject ENOSPC/EIO into one
 * of them. New files are written with the synchronous calls where no fsync
 * follows each (see writeEntry).
 */
export type Fs = Pick<typeof nodeFs, 'mkdir' | 'mkdtemp' | 'open' | 'rename' | 'rm' | 'symlink' | 'readlink' | 'lstat' | 'readdir' | 'chmod' | 'readFile' | 'link'> & {
  writeFileSync: typeof writeFileSync
  chmodSync: typeof chmodSync
  lstatSync: typeof lstatSync
}

export const systemFs: Fs = { ...nodeFs, writeFileSync, chmodSync, lstatSync }

/**
 * Where the generations of a repository live: beside the configured
 * location, in a hidden directory on the same filesystem (rename needs that).
 *
 *   /var/db/repos/overlayman          -> .overlayman.olm/g-<digest>   (symlink)
 *   /var/db/repos/.overlayman.olm/    g-<digest>/ (current and previous), .stage-*, .doomed-*
 */
export function generationsDir(location: string): string {
  return path.join(path.dirname(location), `.${path.basename(location)}.olm`)
}

export interface PublishResult {
  changed: boolean
  generation: string
  /** set when the new generation is live but something after the swap failed */
  warning?: string
}

/**
 * Publishes a plan atomically: the files are written into a staging
 * directory, renamed to a generation directory named by the plan's digest,
 * made durable with that name (`durability`: one syncfs, else an fsync per
 * file and of the directories; a small patch of a recycled generation, an
 * fsync of what it changed), and the location symlink is replaced by rename(2) — one atomic
 * step, so a reader sees the old repository or the new one, never neither.
 * The previous generation is kept (a running emerge may still read it).
 */
export async function publishPlan(
  plan: WritePlan,
  location: string,
  fs: Fs = systemFs,
  durability: Flush = systemFlush(),
  cloneTools: CloneTools | null = systemCloneTools(),
  listings: Listings = new Map(),
): Promise<PublishResult> {
  try {
    return await publish(plan, location, fs, durability, cloneTools, listings)
  } catch (err) {
    throw wrapWrite(err, location)
  }
}

/** Listings of generations a publish may recycle, by generation name. */
export type Listings = ReadonlyMap<string, Listing>

export interface Listing {
  /** `CloneTools.list` of it; null: it could not be listed */
  found: Promise<Map<string, FoundEntry> | null>
  /** the file list it was taken beside (see listIdentity) */
  list: string
}

/**
 * A file list's identity. Every publish that writes a generation puts a new
 * list in place by rename (a new ctime, mostly a new inode), after removing
 * the old one before it changed anything. So a listing taken beside a list
 * that is still there was taken of the generation as that list describes it;
 * beside another, it may have been taken while some other olm rewrote it.
 */
async function listIdentity(genDir: string, generation: string, fs: Fs): Promise<string | null> {
  const st = await fs.lstat(path.join(genDir, `${generation}.files`), { bigint: true }).catch(() => null)
  return st && `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}`
}

/**
 * Starts listing every generation but the live one that has its file list
 * (the ones a publish may recycle; there is one after the second publish),
 * before the plan exists: the caller resolves meanwhile, and `find` runs on
 * another core (a 10,000-file generation: ~70 ms off a sync that publishes).
 * Nothing is changed. A publish waits for the listing of the one it recycles
 * before renaming it, and trusts it as of when it was taken if its file list
 * is the same: olm holds the lock, and nothing but olm writes in the
 * generations directory (a killed olm's cp or rm may still run, in a stage or
 * a .doomed-* tree of its own); a second olm that got past the lock in
 * cache-dir (deleted meanwhile; another configuration) publishes a new list.
 */
export async function listRecyclable(location: string, fs: Fs = systemFs, tools: CloneTools | null = systemCloneTools(), durability: Flush = systemFlush()): Promise<Listings> {
  const listings = new Map<string, Listing>()
  if (!tools || !durability.batch) return listings // publishing recycles nothing then
  const genDir = generationsDir(location)
  const current = await currentGeneration(location, fs).catch(() => null)
  const names = await fs.readdir(genDir).catch(() => [] as string[])
  for (const name of names) {
    if (!name.startsWith('g-') || name.includes('.') || name === current || !names.includes(`${name}.files`)) continue
    const list = await listIdentity(genDir, name, fs) // before find starts
    if (list) listings.set(name, { list, found: tools.list(path.join(genDir, name)).catch(() => null) })
  }
  return listings
}

/** The generation a plan is published as. */
export const generationName = (plan: WritePlan) => `g-${plan.digest.slice(0, 24)}`

/**
 * Whether the location already shows the plan: then publishing it changes
 * nothing. Not when its generation is gone (removed by hand, lost by fsck):
 * the link would dangle until the plan changed.
 */
export async function isPublished(plan: WritePlan, location: string, fs: Fs = systemFs): Promise<boolean> {
  const genName = generationName(plan)
  return (await currentGeneration(location, fs)) === genName && (await exists(path.join(generationsDir(location), genName), fs))
}

/**
 * The lock of the generations directory (see acquireLock) for publishing
 * the plan; null when the location already shows it, so that publishing it
 * would write nothing (then nothing is written to tell).
 */
export async function claimGenerations(plan: WritePlan, location: string, opts: LockOptions): Promise<Lock | null> {
  try {
    return (await isPublished(plan, location)) ? null : await acquireLock(generationsDir(location), opts)
  } catch (err) {
    throw wrapWrite(err, location)
  }
}

async function publish(plan: WritePlan, location: string, fs: Fs, durability: Flush, cloneTools: CloneTools | null, listings: Listings): Promise<PublishResult> {
  const genDir = generationsDir(location)
  const genName = generationName(plan)
  if (await isPublished(plan, location, fs)) return { changed: false, generation: genName }
  const current = await currentGeneration(location, fs)
  const target = path.join(genDir, genName)
  await fs.mkdir(genDir, { recursive: true, mode: 0o755 })
  await fs.chmod(genDir, 0o755)
  const keep = [genName, current ?? '']
  // The generation under its name, before the link names it: a power loss must not leave the
  // link pointing at a name the disk never got. One syncfs covers it; file by file, the directory.
  const makeDurable = () => (durability.batch ? durability.flush(target) : syncDir(genDir, fs))
  // A generation already under the plan's name (the previous one asked for again, or what a prune,
  // a run or a power loss cut short left) is never trusted as it is: it is the first to be
  // recycled, so its list and its listing decide what is written again; else it is removed.
  const there = await exists(target, fs)
  // Cloning needs one flush to make its thousands of links durable; recycling, unless its patch is small.
  const recycled = cloneTools && durability.batch ? await recycleGeneration(genDir, there ? [genName] : [], keep, fs, listings) : null
  // Where its patch may be fsynced rather than flushed: its list gone and its rename to the stage on
  // disk before anything in it changes, on a file system that would not keep that order by itself.
  if (recycled?.durable && durability.fsyncUpTo) await syncOnly(genDir, fs)
  if (there && recycled?.name !== genName) {
    // The list first, here as everywhere: a generation is never left with a list and without all it lists.
    await removeFileList(genDir, genName, fs)
    await fs.rm(target, { recursive: true, force: true })
  }
  const stage = recycled?.stage ?? (await fs.mkdtemp(path.join(genDir, '.stage-')))
  // Older generations are removed while the new one is written (the disk
  // does both at once); none is live, and a failure to prune is no failure:
  // the next run prunes.
  const pruning = pruneGenerations(genDir, new Set([...keep, path.basename(stage)]), fs, cloneTools).catch(() => {})
  let named = false
  try {
    // A link left dangling (its generation deleted by hand) has nothing to share.
    const live = current === null ? null : path.join(genDir, current)
    const previous = live && (await exists(live, fs)) ? { dir: live, files: (await readFileList(genDir, current!, fs))?.files ?? null } : null
    const { files, synced } = await writeEntries(plan.entries, stage, fs, previous, durability, cloneTools, recycled)
    // Beside the generation, not in it: portage never sees it; the next publish reuses by it.
    // Written before the flush, which makes it durable too (else it waits on the disk by itself).
    await writeFileList(genDir, genName, files, fs, !durability.batch || synced)
    await removePlacedList(genDir, genName, fs)
    await fs.rename(stage, target)
    named = true
    // A patch fsynced as it was written: what is left is the renames in genDir (recycled, named).
    await (synced ? syncDir(genDir, fs) : makeDurable())
    // In place only now that what it lists is durable (see placeFileList).
    await placeFileList(genDir, genName, fs)
  } catch (err) {
    await pruning
    // Its list first; should that fail, what is left is only debris the next run removes.
    await removeFileList(genDir, genName, fs).catch(() => {})
    await fs.rm(named ? target : stage, { recursive: true, force: true }).catch(() => {})
    throw wrapWrite(err, location)
  }
  try {
    await swapLink(location, path.join(path.basename(genDir), genName), fs)
  } catch (err) {
    await pruning
    // Not published: a generation nobody points at is debris.
    await removeFileList(genDir, genName, fs).catch(() => {})
    await fs.rm(target, { recursive: true, force: true }).catch(() => {})
    throw err
  }
  // After the rename the new generation is live, so a failure from here on is
  // no failure of the publish: it must neither remove it nor make callers undo
  // what they did for it. Unsynced, a power loss may bring back the old link.
  let warning: string | undefined
  await syncDir(path.dirname(location), fs).catch((err: Error) => {
    warning = `published ${location}, but could not sync its directory to disk (${err.message}); a power loss may bring back the previous generation`
  })
  await pruning
  return { changed: true, generation: genName, warning }
}

/** The generation the location points at, null when there is none yet. */
export async function currentGeneration(location: string, fs: Fs = systemFs): Promise<string | null> {
  try {
    const st = await fs.lstat(location)
    if (!st.isSymbolicLink())
      throw new OlmError('WRITE_FAILED', `${location} exists and is not olm's repository link; move it away or set another location in overlayman.conf`, { file: location })
    return path.basename(await fs.readlink(location))
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null
    throw err
  }
}

/** Files written and fsynced at once: fsync waits on the disk, and the disk takes many at a time. */
const WRITE_CONCURRENCY = 32

interface Previous {
  dir: string
  /** null when the previous generation has no list (written by an older olm, or lost) */
  files: FileList | null
}

/**
 * Writes the entries into root: by patching what root already holds (a
 * recycled generation, whose list is `recycled`), or a hard-linked clone of
 * the previous generation, or file by file.
 */
async function writeEntries(
  entries: PlanEntry[],
  root: string,
  fs: Fs,
  previous: Previous | null,
  durability: Flush,
  tools: CloneTools | null,
  recycled: Recycled | null,
): Promise<{ files: FileList; synced: boolean }> {
  let fsync = !durability.batch
  const modes: Modes = { exact: await modesComeOutAsAsked(root, fs) }
  let base: { files: FileList; found: Map<string, FoundEntry> | null } | null = null
  if (recycled && tools) {
    base = { files: recycled.files, found: recycled.found ?? (await tools.list(root)) }
  } else if (previous?.files && tools && durability.batch) {
    // Cloning makes thousands of links at once: only where one flush makes them all durable.
    // Both only read the previous generation: listing it and cloning it overlap.
    const [found] = await Promise.all([tools.list(previous.dir), tools.clone(previous.dir, root, topLevelCounts(previous.files))])
    base = { files: previous.files, found }
  }
  if (base && !base.found) await emptyDir(root, fs) // what root holds cannot be patched without its listing
  let written: Written
  let synced = false
  if (base?.found) {
    const patch = patchFor(entries, base.files, base.found)
    // Only a recycled generation known durable (a clone's thousands of new links need the one flush).
    if (recycled?.durable && durability.batch && patch.write.length + patch.remove.length + patch.removeDirs.length <= (durability.fsyncUpTo ?? -1)) fsync = synced = true
    await settleAll(patch.removeDirs.map((d) => () => fs.rm(path.join(root, d), { recursive: true, force: true })))
    await settleAll(patch.remove.map((rel) => () => fs.rm(path.join(root, rel), { force: true })))
    // A recycled generation is one older than the previous: what changed since is shared from the previous.
    written = await writeInto(patch.write, root, fs, recycled ? previous : null, fsync, modes)
    for (const [rel, f] of patch.kept) written.files.set(rel, f)
    if (synced) {
      // Files written were fsynced each; now every directory that gained or lost an entry, and no other.
      const changed = changedDirs(patch, written.made, root)
      await settleAll([...written.dirs].filter((d) => !modes.exact || changed.has(d)).map((d) => () => fixDir(d, fs, changed.has(d))))
      await settleAll([...changed].filter((d) => !written.dirs.has(d) && d !== root).map((d) => () => syncOnly(d, fs)))
      await fixDir(root, fs, true)
      return { files: written.files, synced }
    }
  } else {
    written = await writeInto(entries, root, fs, previous, fsync, modes)
  }
  if (fsync || !modes.exact) await settleAll([...written.dirs].map((dir) => () => fixDir(dir, fs, fsync)))
  await fixDir(root, fs, fsync)
  return { files: written.files, synced }
}

/**
 * The directories whose entries a patch changed: the parent of each path
 * written or removed, and of each directory made for it. An fsync of a
 * directory that did not change is a wait on the disk for nothing.
 */
function changedDirs(patch: Patch, made: ReadonlySet<string>, root: string): Set<string> {
  const dirs = new Set<string>([root])
  for (const e of patch.write) dirs.add(path.join(root, parentOf(e.relPath)))
  for (const rel of [...patch.remove, ...patch.removeDirs]) dirs.add(path.join(root, parentOf(rel)))
  for (const dir of made) dirs.add(path.dirname(dir))
  return dirs
}

const parentOf = (rel: string) => rel.slice(0, Math.max(0, rel.lastIndexOf('/')))

/**
 * An old generation to build the new one in, instead of cloning the previous
 * one and removing the old: the generation before the previous is removed on
 * every publish anyway, and holds nearly what the new one will. It is renamed
 * to a staging name first (never patched under its own name), and patched by
 * removing every file that is not kept and writing new ones: its files are
 * hard links shared with the live generation, so none is ever written in
 * place. Only one with its file list; the names in `first` are tried first
 * (a generation under the new one's own name). Null when there is none.
 * (A 10-package bump of a 10,000-file repository on the bench VM: `cp -al` of
 * the previous generation and `rm -rf` of the old one 0.35-0.4 s; listing and
 * patching the retired one 0.1-0.13 s.)
 */
async function recycleGeneration(genDir: string, first: readonly string[], keep: readonly string[], fs: Fs, listings: Listings): Promise<Recycled | null> {
  const others = (await fs.readdir(genDir)).sort().filter((name) => name.startsWith('g-') && !name.includes('.') && !keep.includes(name))
  for (const name of [...first, ...others]) {
    const list = await readFileList(genDir, name, fs).catch(() => null)
    if (!list || !(await fs.lstat(path.join(genDir, name))).isDirectory()) continue
    // Listed before this publish began (see listRecyclable), and done before the rename: find
    // is never walking it while it moves. Its paths are relative, so they hold under the new name.
    // Only beside the list it was taken with (see listIdentity); else it is listed again, as the stage.
    const listing = listings.get(name)
    const taken = listing ? await listing.found : null
    const found = taken && listing!.list === (await listIdentity(genDir, name, fs)) ? taken : undefined
    const stage = path.join(genDir, `.stage-${randomBytes(6).toString('hex')}`)
    // Its list describes a generation about to be patched: gone first (a new one is written under the new name).
    await removeFileList(genDir, name, fs)
    await fs.rename(path.join(genDir, name), stage)
    return { name, stage, files: list.files, durable: list.durable, found }
  }
  return null
}

interface Recycled {
  name: string
  /** where it is patched */
  stage: string
  files: FileList
  /** whether it was durable as its list says (see placeFileList): only then is a patch of it fsynced, not flushed */
  durable: boolean
  /** its listing when it was taken before the publish began */
  found?: Map<string, FoundEntry>
}

/** Files under each top-level entry of a generation, by its file list. */
function topLevelCounts(files: FileList): Map<string, number> {
  const counts = new Map<string, number>()
  for (const rel of files.keys()) {
    const top = rel.split('/', 1)[0]!
    counts.set(top, (counts.get(top) ?? 0) + 1)
  }
  return counts
}

async function emptyDir(dir: string, fs: Fs): Promise<void> {
  for (const name of await fs.readdir(dir)) await fs.rm(path.join(dir, name), { recursive: true, force: true })
}

interface Written {
  files: FileList
  /** directories on the way, to be given their mode */
  dirs: Set<string>
  /** those of them that mkdir made (the others were there) */
  made: Set<string>
}

/** exact: files and directories are created with exactly the mode asked for (see modesComeOutAsAsked). */
interface Modes {
  exact: boolean
}

/**
 * Whether what is created under dir gets exactly the mode asked for. The
 * umask and a default ACL only ever take bits away, so a 0755 directory and
 * file that come out 0755 say 0644 and 0755 will too; then the chmod of every
 * file and directory (a thread-pool round trip each, 10,000 for a large
 * repository) is left out. A setgid parent shows too, as 02755.
 */
async function modesComeOutAsAsked(dir: string, fs: Fs): Promise<boolean> {
  const probe = path.join(dir, '.olm-mode-probe')
  await fs.mkdir(probe, { mode: 0o755 })
  try {
    await (await fs.open(path.join(probe, 'f'), 'wx', 0o755)).close()
    const [d, f] = await Promise.all([fs.lstat(probe), fs.lstat(path.join(probe, 'f'))])
    return (d.mode & 0o7777) === 0o755 && (f.mode & 0o7777) === 0o755
  } finally {
    await fs.rm(probe, { recursive: true, force: true })
  }
}

async function writeInto(entries: PlanEntry[], root: string, fs: Fs, previous: Previous | null, fsync: boolean, modes: Modes): Promise<Written> {
  const { dirs, made } = await makeDirs(entries, root, fs)
  const files: FileList = new Map()
  await settleAll(
    entries.map((e) => async () => {
      const written = await writeEntry(e, path.join(root, e.relPath), fs, previous, fsync, modes)
      if (e.kind === 'file') files.set(e.relPath, { id: e.id, executable: e.executable, ...written! })
    }),
  )
  return { files, dirs, made }
}

/**
 * Makes the directories the entries need, parents first and each level's at
 * once (one mkdir after another was ~0.3 s of a 10,000-file repository).
 * Returns every one, not only the files' own: under umask 077 "app-misc" of
 * "app-misc/foo/x" would stay 0700, unreadable by portage, unless given its mode.
 */
async function makeDirs(entries: PlanEntry[], root: string, fs: Fs): Promise<{ dirs: Set<string>; made: Set<string> }> {
  const dirs = new Set<string>()
  const made = new Set<string>()
  const levels: string[][] = []
  for (const e of entries) {
    for (let d = path.dirname(path.join(root, e.relPath)); d !== root && !dirs.has(d); d = path.dirname(d)) {
      dirs.add(d)
      const depth = path.relative(root, d).split(path.sep).length
      ;(levels[depth] ??= []).push(d)
    }
  }
  // recursive: a generation cloned from the previous one already has most of them. Its parent
  // exists by then, so mkdir makes at most this one, and says so.
  for (const level of levels) if (level) await settleAll(level.map((d) => () => fs.mkdir(d, { recursive: true, mode: 0o755 }).then((first) => void (first && made.add(d)))))
  return { dirs, made }
}

/** What the file list says of a file besides its id and mode. */
interface OnDisk {
  size: number
  mtime: string
}

/** Writes one entry; for a file, returns its size and mtime. */
async function writeEntry(e: PlanEntry, file: string, fs: Fs, previous: Previous | null, fsync: boolean, modes: Modes): Promise<OnDisk | undefined> {
  if (e.kind === 'symlink') return void (await fs.symlink(e.target, file))
  // Generations are never modified once published: a file the previous one
  // already holds, byte for byte and mode for mode, is shared by a hard link
  // instead of being written and fsynced again.
  if (previous) {
    const old = path.join(previous.dir, e.relPath)
    const same = await sameFile(old, e, previous.files, fs)
    if (same !== null) {
      await fs.link(old, file)
      return same
    }
  }
  // Modes are exactly 0644 or 0755: never setuid/setgid/world-writable, whatever the umask or the overlay said.
  const mode = e.executable ? 0o755 : 0o644
  const content = await e.read()
  // A git id was read from the snapshot that named it, by content address; other bytes (a directory overlay's) can change under olm.
  if (!e.id.startsWith('git:') && contentId(content, e.id) !== e.id) throw new Error(`${e.relPath} changed between planning and writing`)
  if (!fsync) {
    // Made durable later by one flush: written in one synchronous call each, on this thread. Through
    // the thread pool, open, write and close were three round trips and a FileHandle per file:
    // 10,609 files of a 1,157-package repository 1.1-1.5 s, synchronously 0.6-0.8 s (bench VM).
    fs.writeFileSync(file, content, { flag: 'wx', mode })
    if (!modes.exact) fs.chmodSync(file, mode)
    return { size: content.length, mtime: fs.lstatSync(file, { bigint: true }).mtimeNs.toString() }
  }
  const fh = await fs.open(file, 'wx', mode)
  try {
    await fh.writeFile(content)
    // fdatasync may leave a changed mode behind (it makes durable what reading the data needs).
    if (!modes.exact) await fh.chmod(mode)
    await (modes.exact ? fh.datasync() : fh.sync())
    return { size: content.length, mtime: (await fh.stat({ bigint: true })).mtimeNs.toString() }
  } finally {
    await fh.close()
  }
}

/**
 * The size and mtime of the previous generation's file when it holds what
 * `e` names: by its file list (id, size, mode and mtime checked against the
 * file) without reading it, or, with no list or an older olm's without
 * mtimes, by reading and hashing it. Null otherwise.
 */
async function sameFile(file: string, e: FileEntry, list: FileList | null, fs: Fs): Promise<OnDisk | null> {
  const listed = list?.get(e.relPath)
  if (list && (!listed || listed.id !== e.id || listed.executable !== e.executable)) return null
  try {
    const st = await fs.lstat(file, { bigint: true })
    if (!st.isFile() || Number(st.mode & 0o7777n) !== (e.executable ? 0o755 : 0o644)) return null
    const onDisk = { size: Number(st.size), mtime: st.mtimeNs.toString() }
    if (listed?.mtime !== undefined) return onDisk.size === listed.size && onDisk.mtime === listed.mtime ? onDisk : null
    return contentId(await fs.readFile(file), e.id) === e.id ? onDisk : null
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null
    throw err
  }
}

/**
 * Runs tasks WRITE_CONCURRENCY at a time and waits for every started one to
 * end before throwing the first error, so no write is still in flight when the
 * caller removes the staging directory.
 */
async function settleAll(tasks: (() => Promise<void>)[]): Promise<void> {
  let next = 0
  let failure = null as { err: unknown } | null
  const runner = async () => {
    while (next < tasks.length && !failure) {
      const task = tasks[next++]!
      try {
        await task()
      } catch (err) {
        failure ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, tasks.length) }, runner))
  if (failure) throw failure.err
}

/** 0755 whatever the umask made of it, and fsynced unless the whole file system is flushed later. */
async function fixDir(dir: string, fs: Fs, fsync: boolean): Promise<void> {
  const fh = await fs.open(dir, 'r')
  try {
    await fh.chmod(0o755)
    if (fsync) await fh.sync()
  } finally {
    await fh.close()
  }
}

/** fsync(2) of a directory, nothing else. */
async function syncOnly(dir: string, fs: Fs): Promise<void> {
  const fh = await fs.open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

async function syncDir(dir: string, fs: Fs): Promise<void> {
  await fixDir(dir, fs, true)
}

async function swapLink(location: string, target: string, fs: Fs): Promise<void> {
  const prefix = `.${path.basename(location)}.link-`
  const tmp = path.join(path.dirname(location), `${prefix}${process.pid}`)
  // A run killed between symlink and rename leaves its temp link; olm holds the lock, so every one is stale.
  for (const name of await fs.readdir(path.dirname(location)))
    if (name.startsWith(prefix)) await fs.rm(path.join(path.dirname(location), name), { force: true })
  await fs.symlink(target, tmp)
  try {
    await fs.rename(tmp, location)
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {})
    throw wrapWrite(err, location)
  }
}

async function pruneGenerations(genDir: string, keep: Set<string>, fs: Fs, tools: CloneTools | null): Promise<void> {
  const doomed: string[] = []
  for (const name of await fs.readdir(genDir)) {
    if (keep.has(name.replace(/\.files(\.tmp)?$/, ''))) continue
    // Staging dirs of interrupted runs are debris too; olm holds the lock, so none is in use by a
    // run (a killed run's cp may still link into its own stage: rm may then leave some to the next prune).
    if (name.startsWith('g-') || name.startsWith('.stage-') || name.startsWith('.doomed-')) doomed.push(path.join(genDir, name))
  }
  if (!doomed.length) return
  // Lists before their generations: one cut short keeps no list of what it lost (see placeFileList).
  const lists = doomed.filter((p) => /\.files(\.tmp)?$/.test(p))
  for (const p of lists) await fs.rm(p, { force: true })
  // Then each tree under a name no generation will have: an rm outliving a killed olm must never
  // remove a generation the next run publishes under the old name.
  const trees: string[] = []
  for (const p of doomed.filter((d) => !lists.includes(d))) {
    const away = path.basename(p).startsWith('.doomed-') ? p : path.join(genDir, `.doomed-${randomBytes(6).toString('hex')}`)
    if (away === p || (await fs.rename(p, away).then(() => true, () => false))) trees.push(away)
  }
  // One rm process, not node's recursive rm: that queues an unlink per file on the four-thread pool
  // the new generation is being written through (it held a 10,000-file publish back 0.4 s).
  if (!trees.length) return
  if (tools?.removeTrees) await tools.removeTrees(trees)
  else for (const p of trees) await fs.rm(p, { recursive: true, force: true })
}

async function exists(p: string, fs: Fs): Promise<boolean> {
  try {
    await fs.lstat(p)
    return true
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false
    throw err
  }
}

function wrapWrite(err: unknown, location: string): unknown {
  if (err instanceof OlmError) return err
  const code = (err as NodeJS.ErrnoException)?.code
  if (!code) return err
  return new OlmError('WRITE_FAILED', `could not write the repository at ${location}: ${(err as Error).message}`, { file: location }, { cause: err })
}
