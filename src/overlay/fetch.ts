import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import type { Reporter } from '../report.js'
import { cachedCommit, fetchGitOverlay, openGitTree } from './git.js'
import { GitTreeError } from './git-tree.js'
import type { OverlaySource } from './registry.js'
import { entryFromListing, type OverlayTree, type TreeEntry } from './tree.js'

/** node-tar is loaded only when a tarball overlay is used: most syncs are git only, and start faster. */
export const tarSource = () => import('./tar.js')

export interface FetchedOverlay {
  source: OverlaySource
  tree: OverlayTree
  /** false when the remote had nothing new (no pack, no rewrite) */
  changed: boolean
  /** set when the fetch failed and the previous cache is used instead */
  failure?: OlmError
}

/**
 * Each overlay's cache directory is keyed by name and URL, so pointing an
 * overlay at another URL starts a fresh cache instead of mixing histories.
 */
export function overlayCacheDir(cacheDir: string, source: OverlaySource): string {
  const urlKey = createHash('sha256').update(`${source.kind} ${source.url} ${source.kind === 'git' ? (source.branch ?? '') : ''}`).digest('hex').slice(0, 12)
  return path.join(cacheDir, 'overlays', `${source.overlay}.${source.kind}.${urlKey}`)
}

export interface FetchOptions {
  cacheDir: string
  report: Reporter
  signal?: AbortSignal
  /** false: use the cache as it is (olm list, olm why, pretend without network) */
  network: boolean
  /** Longest silence from a server before the fetch fails (default: the clients' own, 30-60 s). */
  stallMs?: number
}

/**
 * Brings one overlay up to date and opens it. A failed fetch falls back to
 * the previous cache (reported in `failure`); with no previous cache it throws.
 */
export async function fetchOverlay(source: OverlaySource, opts: FetchOptions): Promise<FetchedOverlay> {
  const dir = overlayCacheDir(opts.cacheDir, source)
  const { report } = opts
  let changed = false
  let failure: OlmError | undefined
  if (opts.network) {
    report.emit({ type: 'source:start', overlay: source.overlay, url: source.url })
    const onProgress = (e: { phase: string; loaded: number; total?: number }) => report.emit({ type: 'source:progress', overlay: source.overlay, ...e })
    try {
      const result =
        source.kind === 'git'
          ? await fetchGitOverlay({ overlay: source.overlay, url: source.url, branch: source.branch, cacheDir: dir, signal: opts.signal, onProgress, timeoutMs: opts.stallMs })
          : await (await tarSource()).fetchTarOverlay({ overlay: source.overlay, url: source.url, cacheDir: dir, signal: opts.signal, onProgress: (p) => onProgress(p), http: { stallMs: opts.stallMs } })
      changed = result.changed
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      failure = err
    }
  }
  const tree = await openCached(source, dir)
  if (!tree) {
    if (failure) throw failure
    throw new OlmError('FETCH_FAILED', `::${source.overlay} has not been fetched yet (run olm sync)`, { overlay: source.overlay, url: source.url })
  }
  // Reported only when the previous cache stands in; otherwise the thrown error says it all.
  if (failure) report.emit({ type: 'source:failed', overlay: source.overlay, url: source.url, message: failure.message })
  if (opts.network) report.emit({ type: 'source:done', overlay: source.overlay, commit: tree.commit, cached: !changed })
  if (opts.network && !failure) await removeSupersededCaches(opts.cacheDir, source, dir)
  return { source, tree, changed, failure }
}

/**
 * One cache per overlay: once the overlay has been fetched from where it is
 * defined now, the caches of where it was defined before (another URL,
 * branch or kind) go. Nothing reads them any more, and each is a whole
 * shallow clone; `olm search` and `olm status` would list the overlay twice.
 * Overlays no longer requested keep theirs (olm status names them).
 */
async function removeSupersededCaches(cacheDir: string, source: OverlaySource, current: string): Promise<void> {
  const base = path.join(cacheDir, 'overlays')
  // Overlay names have no dots (pms.md §2.1): "<name>." starts this overlay's caches and no other's.
  const mine = (name: string) => name.startsWith(`${source.overlay}.`) && /^(git|tar)\.[0-9a-f]{12}$/.test(name.slice(source.overlay.length + 1))
  for (const name of await fs.readdir(base).catch(() => [] as string[]))
    if (mine(name) && path.join(base, name) !== current) await fs.rm(path.join(base, name), { recursive: true, force: true })
}

/**
 * A git overlay's cache at an older commit, while its objects are still
 * there (a re-clone drops them); null when they are not, or for tarballs.
 */
export async function openCachedCommit(cacheDir: string, source: OverlaySource, commit: string): Promise<OverlayTree | null> {
  if (source.kind !== 'git') return null
  try {
    return guardTree(await openGitTree(overlayCacheDir(cacheDir, source), source.overlay, commit), source.url)
  } catch {
    return null
  }
}

async function openCached(source: OverlaySource, dir: string): Promise<OverlayTree | null> {
  if (source.kind === 'git') {
    const commit = await cachedCommit(dir)
    return commit ? guardTree(await openGitTree(dir, source.overlay, commit), source.url) : null
  }
  return (await tarSource()).openTarTree(dir, source.overlay)
}

/** Control characters (C0, DEL, C1): never part of a name olm copies (the tarball source refuses them too). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * A git tree is whatever its author crafted: entries named "..", "." or with
 * control characters, or modes like 104755, which `git add` never writes.
 * Every one becomes UNSAFE_PATH naming the overlay and the entry, so a
 * hostile overlay is refused with a clear message instead of a crash.
 */
export function guardTree(tree: OverlayTree, url: string): OverlayTree {
  const refuse = (relPath: string, why: string) =>
    new OlmError('UNSAFE_PATH', `refusing ::${tree.overlay}: ${JSON.stringify(relPath)} ${why}`, { overlay: tree.overlay, url })
  const guarded = async <T>(relPath: string, read: () => Promise<T>): Promise<T> => {
    try {
      return await read()
    } catch (err) {
      if (!(err instanceof GitTreeError)) throw err
      if (err.reason === 'unsafe-name') throw refuse(relPath, `holds a name git itself calls unsafe (${err.message})`)
      if (err.reason === 'bad-mode') throw refuse(relPath, `holds an entry with a mode git never writes (${err.detail})`)
      throw refuse(relPath, `is not a readable git tree (${err.message})`)
    }
  }
  // The tree is an immutable snapshot: each directory is checked once, however often it is listed.
  const checked = new Map<string, Promise<TreeEntry[] | null>>()
  const guardedTree: OverlayTree = {
    overlay: tree.overlay,
    commit: tree.commit,
    // Through the checked listing of its directory, so a hostile name is refused here too.
    entry: (relPath) => entryFromListing(guardedTree, relPath),
    readDir(relPath) {
      let listing = checked.get(relPath)
      if (!listing) {
        listing = guarded(relPath, async () => {
          const entries = await tree.readDir(relPath)
          const bad = entries?.find((e) => e.name === '.' || e.name === '..' || e.name.includes('/') || CONTROL.test(e.name))
          if (bad) throw refuse(relPath ? `${relPath}/${bad.name}` : bad.name, 'has a name that is not a plain file name (".", "..", "/" or a control character)')
          return entries
        })
        checked.set(relPath, listing)
      }
      return listing
    },
    readFile: (relPath) => guarded(relPath, () => tree.readFile(relPath)),
    readLink: (relPath) => guarded(relPath, () => tree.readLink(relPath)),
  }
  return guardedTree
}
