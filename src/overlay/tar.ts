import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import * as tar from 'tar'
import type { ReadEntry } from 'tar'
import { OlmError } from '../errors.js'
import { digestDir, openDirTree } from './dir-tree.js'
import { fetchToFile, type HttpGetOptions } from './http.js'
import type { OverlayTree } from './tree.js'

/**
 * The tarball source: an http(s) .tar.gz (typically a GitHub archive) kept
 * extracted in the overlay's cache directory.
 *
 * Cache layout (all inside cacheDir, nothing outside is touched):
 *   current          symlink to the live extract, swapped with one rename()
 *   tree-<digest>/   the live extract; <digest> is its digestDir(), the "commit"
 *   tar-state.json   url, ETag and Last-Modified of the download behind it
 *   .olm-tmp-XXXX/   download and staging of a fetch in progress
 */
export interface FetchTarOptions {
  overlay: string
  url: string
  /** This overlay's own cache directory (created when missing). */
  cacheDir: string
  signal?: AbortSignal
  /** Bytes downloaded so far (total from Content-Length when the server sends it). */
  onProgress?: (progress: { phase: 'download'; loaded: number; total?: number }) => void
  /** Timeouts and size limit of the download. */
  http?: Pick<HttpGetOptions, 'timeoutMs' | 'stallMs' | 'maxBytes'>
  /** Largest total size of the extracted files. Default 4 GiB. */
  maxUnpackedBytes?: number
}

export interface TarFetchResult {
  /** Content digest of the extracted tree. */
  commit: string
  /** false when the server answered 304 or sent the same content again. */
  changed: boolean
}

const CURRENT = 'current'
const STATE_FILE = 'tar-state.json'
const TMP_PREFIX = '.olm-tmp-'
const TREE_PREFIX = 'tree-'
const DEFAULT_MAX_UNPACKED = 4 * 1024 ** 3

/**
 * Downloads and safely extracts the overlay's tarball. Guarantees: the
 * previous extract stays live and intact until the new one is complete and
 * checked; on any failure (network, hostile entry, full disk) it is left as it
 * was and the temporary files are removed. A hostile entry (absolute path,
 * "..", control character, link leaving the tree, device, fifo) fails the
 * whole fetch with UNSAFE_PATH naming the entry and the overlay.
 */
export async function fetchTarOverlay(opts: FetchTarOptions): Promise<TarFetchResult> {
  try {
    return await refresh(opts)
  } catch (err) {
    throw asOlmError(err, opts)
  }
}

async function refresh(opts: FetchTarOptions): Promise<TarFetchResult> {
  const { overlay, url, cacheDir } = opts
  await mkdir(cacheDir, { recursive: true })
  const previous = await readCurrent(cacheDir)
  await removeDebris(cacheDir, previous)
  const state = previous ? await readState(cacheDir) : null
  const tmpDir = await mkdtemp(path.join(cacheDir, TMP_PREFIX))
  try {
    const archive = path.join(tmpDir, 'archive.tar.gz')
    const res = await fetchToFile(url, archive, {
      ...opts.http,
      signal: opts.signal,
      headers: state?.url === url ? conditionalHeaders(state) : {},
      onProgress: (loaded, total) => opts.onProgress?.({ phase: 'download', loaded, total }),
    })
    if (res.status === 304 && previous) return { commit: previous.digest, changed: false }
    if (res.status === 304) throw new OlmError('FETCH_FAILED', `${url} answered 304 to an unconditional request`, { overlay, url })
    const newState: TarState = { url, etag: header(res.headers.etag), lastModified: header(res.headers['last-modified']) }
    const root = await extractChecked(archive, path.join(tmpDir, 'x'), opts)
    const digest = await digestDir(root)
    if (digest !== previous?.digest) await install(cacheDir, root, digest)
    await writeState(cacheDir, newState)
    if (previous && digest !== previous.digest) await rm(previous.dir, { recursive: true, force: true })
    return { commit: digest, changed: digest !== previous?.digest }
  } finally {
    await rm(tmpDir, { recursive: true, force: true })
  }
}

/** The extracted tree of the last good fetch, or null when there has been none. */
export async function openTarTree(cacheDir: string, overlay: string): Promise<OverlayTree | null> {
  const current = await readCurrent(cacheDir)
  return current ? openDirTree(current.dir, overlay, current.digest) : null
}

/** Validates every header, extracts, then checks what is on disk. Returns the tree root. */
async function extractChecked(archive: string, stageDir: string, opts: FetchTarOptions): Promise<string> {
  const plan = await inspectArchive(archive, opts)
  await mkdir(stageDir)
  await tar.x({
    file: archive,
    cwd: stageDir,
    strict: true,
    preserveOwner: false,
    // inspectArchive refused everything else; this is a second line of defence.
    filter: (_p, entry) => {
      const e = entry as ReadEntry
      if (!SAFE_TYPES.has(e.type)) return false
      e.mode = normalMode(e.type === 'Directory', e.mode ?? 0o644)
      return true
    },
  })
  const root = plan.topDir === null ? stageDir : path.join(stageDir, plan.topDir)
  await settleTree({ rootDir: root, shownPrefix: plan.topDir ?? '', opts }, root)
  return root
}

const SAFE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'])

interface EntryInfo {
  parts: string[]
  type: string
  linkpath: string
}

/** Reads every header once before anything is written, and decides whether to strip a top directory. */
async function inspectArchive(archive: string, opts: FetchTarOptions): Promise<{ topDir: string | null }> {
  const entries: EntryInfo[] = []
  let problem: OlmError | undefined
  let totalBytes = 0
  const maxBytes = opts.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED
  try {
    await tar.t({
      file: archive,
      strict: true,
      onReadEntry: (e) => {
        if (problem) return
        totalBytes += e.size
        problem = checkEntry(e, opts) ?? (totalBytes > maxBytes ? unsafe(opts, e.path, `unpacks to more than ${maxBytes} bytes`) : undefined)
        entries.push({ parts: components(e.path), type: e.type, linkpath: e.linkpath ?? '' })
      },
    })
  } catch (err) {
    throw new OlmError('FETCH_FAILED', `the tarball of overlay "${opts.overlay}" from ${opts.url} is not a valid .tar.gz: ${(err as Error).message}`, { overlay: opts.overlay, url: opts.url }, { cause: err })
  }
  if (problem) throw problem
  const topDir = commonTopDir(entries)
  const seen = { files: new Set<string>(), symlinks: new Set<string>() }
  for (const entry of entries) {
    const linkProblem = checkLink(entry, topDir, seen.files, opts) ?? checkNotThroughSymlink(entry, seen.symlinks, opts)
    if (linkProblem) throw linkProblem
    if (entry.type === 'SymbolicLink') seen.symlinks.add(entry.parts.join('/'))
    else if (entry.type !== 'Directory') seen.files.add(entry.parts.join('/'))
  }
  return { topDir }
}

const CONTROL = /[\u0000-\u001f\u007f]/

function checkEntry(e: ReadEntry, opts: FetchTarOptions): OlmError | undefined {
  const name = e.path
  if (CONTROL.test(name) || CONTROL.test(e.linkpath ?? '')) return unsafe(opts, name, 'control character in the name')
  if (path.posix.isAbsolute(name) || /^[A-Za-z]:/.test(name)) return unsafe(opts, name, 'absolute path')
  if (name.split('/').includes('..')) return unsafe(opts, name, '".." in the path')
  if (!SAFE_TYPES.has(e.type)) return unsafe(opts, name, `${e.type} entries are not allowed`)
  return undefined
}

/**
 * Symlinks must point inside the (stripped) tree. Hard links may only name a
 * regular file stored earlier in the archive (as tar itself writes them), so
 * they can never reach through a symlink to something outside.
 */
function checkLink(entry: EntryInfo, topDir: string | null, filesSoFar: Set<string>, opts: FetchTarOptions): OlmError | undefined {
  const shown = entry.parts.join('/')
  if (entry.type === 'SymbolicLink') {
    const parts = topDir === null ? entry.parts : entry.parts.slice(1)
    const target = path.posix.normalize(path.posix.join(parts.slice(0, -1).join('/'), entry.linkpath || '/'))
    if (path.posix.isAbsolute(entry.linkpath) || target === '..' || target.startsWith('../') || entry.linkpath === '')
      return unsafe(opts, shown, `symlink to "${entry.linkpath}" leaves the tree`)
  }
  if (entry.type === 'Link' && !filesSoFar.has(components(entry.linkpath).join('/')))
    return unsafe(opts, shown, `hard link to "${entry.linkpath}", which is not a file of the tarball`)
  return undefined
}

/** An entry below an earlier symlink would be written wherever that link points. */
function checkNotThroughSymlink(entry: EntryInfo, symlinks: Set<string>, opts: FetchTarOptions): OlmError | undefined {
  for (let i = 1; i < entry.parts.length; i++) {
    const prefix = entry.parts.slice(0, i).join('/')
    if (symlinks.has(prefix)) return unsafe(opts, entry.parts.join('/'), `it lies below the symlink "${prefix}"`)
  }
  return undefined
}

/** GitHub archives put everything under one "<repo>-<ref>/" directory; that directory is stripped. */
function commonTopDir(entries: EntryInfo[]): string | null {
  const first = entries.find((e) => e.parts.length > 0)?.parts[0]
  if (first === undefined) return null
  let nested = false
  for (const e of entries) {
    if (e.parts.length === 0) continue
    if (e.parts[0] !== first) return null
    if (e.parts.length === 1 && e.type !== 'Directory') return null
    nested ||= e.parts.length > 1
  }
  return nested ? first : null
}

/**
 * Fixes modes (0644, 0755 for directories and executables: never setuid,
 * setgid, sticky or world-writable) and checks, on disk, that no symlink
 * resolves outside the root (a chain of links can escape where each link
 * alone looked fine) and that nothing but files, dirs and links exists.
 */
interface SettleContext {
  rootDir: string
  /** The stripped top directory, so messages name entries as the archive does. */
  shownPrefix: string
  opts: FetchTarOptions
}

async function settleTree(ctx: SettleContext, dir: string): Promise<void> {
  const { rootDir, opts } = ctx
  for (const name of await readdir(dir)) {
    const abs = path.join(dir, name)
    const st = await lstat(abs)
    const shown = path.posix.join(ctx.shownPrefix, path.relative(rootDir, abs))
    if (st.isDirectory()) {
      await chmod(abs, 0o755)
      await settleTree(ctx, abs)
    } else if (st.isFile()) {
      await chmod(abs, normalMode(false, st.mode))
    } else if (st.isSymbolicLink()) {
      await checkResolvedLink(rootDir, abs, shown, opts)
    } else {
      throw unsafe(opts, shown, 'device, fifo or socket entries are not allowed')
    }
  }
}

async function checkResolvedLink(rootDir: string, link: string, shown: string, opts: FetchTarOptions): Promise<void> {
  let resolved: string
  try {
    resolved = await realpath(link)
  } catch {
    return // dangling: it points nowhere, and the lexical check already kept it inside
  }
  const root = await realpath(rootDir)
  if (resolved !== root && !resolved.startsWith(root + path.sep))
    throw unsafe(opts, shown, `symlink to "${await readlink(link)}" resolves outside the tree`)
}

/** node-tar and fs failures become OlmErrors naming the overlay; bugs and aborts pass through. */
function asOlmError(err: unknown, opts: FetchTarOptions): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (err instanceof OlmError || typeof code !== 'string') return err
  const context = { overlay: opts.overlay, url: opts.url }
  const message = (err as Error).message
  if (code.startsWith('TAR_'))
    return new OlmError('FETCH_FAILED', `cannot extract the tarball of overlay "${opts.overlay}" from ${opts.url}: ${message}`, context, { cause: err })
  if (/^E[A-Z]+$/.test(code))
    return new OlmError('WRITE_FAILED', `cannot update the cache of overlay "${opts.overlay}" in ${opts.cacheDir}: ${message}`, context, { cause: err })
  return err
}

function normalMode(isDir: boolean, mode: number): number {
  return isDir || (mode & 0o100) !== 0 ? 0o755 : 0o644
}

function unsafe(opts: FetchTarOptions, entry: string, why: string): OlmError {
  return new OlmError('UNSAFE_PATH', `refusing the tarball of overlay "${opts.overlay}": entry "${entry}": ${why}`, { overlay: opts.overlay, url: opts.url })
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.')
}

/** Moves the checked tree into cacheDir and points `current` at it with one atomic rename. */
async function install(cacheDir: string, root: string, digest: string): Promise<void> {
  const treeName = `${TREE_PREFIX}${digest}`
  await rename(root, path.join(cacheDir, treeName))
  const tmpLink = path.join(cacheDir, `${TMP_PREFIX}link-${process.pid}-${Date.now()}`)
  await symlink(treeName, tmpLink)
  await rename(tmpLink, path.join(cacheDir, CURRENT))
}

async function readCurrent(cacheDir: string): Promise<{ dir: string; digest: string } | null> {
  let target: string
  try {
    target = await readlink(path.join(cacheDir, CURRENT))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  if (!target.startsWith(TREE_PREFIX) || target.includes('/')) throw new Error(`corrupt tar cache: ${cacheDir}/${CURRENT} -> ${target}`)
  return { dir: path.join(cacheDir, target), digest: target.slice(TREE_PREFIX.length) }
}

/** Leftovers of an interrupted fetch: temp dirs and extracts no longer pointed at. */
async function removeDebris(cacheDir: string, current: { dir: string } | null): Promise<void> {
  const keep = current ? path.basename(current.dir) : null
  for (const name of await readdir(cacheDir)) {
    if (name.startsWith(TMP_PREFIX) || (name.startsWith(TREE_PREFIX) && name !== keep))
      await rm(path.join(cacheDir, name), { recursive: true, force: true })
  }
}

interface TarState {
  url: string
  etag?: string | undefined
  lastModified?: string | undefined
}

async function readState(cacheDir: string): Promise<TarState | null> {
  try {
    const parsed = JSON.parse(await readFile(path.join(cacheDir, STATE_FILE), 'utf8')) as TarState
    return typeof parsed.url === 'string' ? parsed : null
  } catch {
    return null // missing or damaged: the next fetch is simply unconditional
  }
}

/** Written after the swap: a stale state can only cost a re-download, never hide a change. */
async function writeState(cacheDir: string, state: TarState): Promise<void> {
  const tmp = path.join(cacheDir, `${TMP_PREFIX}state-${process.pid}`)
  await writeFile(tmp, JSON.stringify(state))
  await rename(tmp, path.join(cacheDir, STATE_FILE))
}

function conditionalHeaders(state: TarState): Record<string, string> {
  const headers: Record<string, string> = {}
  if (state.etag) headers['if-none-match'] = state.etag
  if (state.lastModified) headers['if-modified-since'] = state.lastModified
  return headers
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
