import { createHash } from 'node:crypto'
import path from 'node:path'
import { OlmError } from '../errors.js'
import type { Reporter } from '../report.js'
import { cachedCommit, fetchGitOverlay, openGitTree } from './git.js'
import type { OverlaySource } from './registry.js'
import { fetchTarOverlay, openTarTree } from './tar.js'
import type { OverlayTree } from './tree.js'

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
          : await fetchTarOverlay({ overlay: source.overlay, url: source.url, cacheDir: dir, signal: opts.signal, onProgress: (p) => onProgress(p), http: { stallMs: opts.stallMs } })
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
  return { source, tree, changed, failure }
}

async function openCached(source: OverlaySource, dir: string): Promise<OverlayTree | null> {
  if (source.kind === 'git') {
    const commit = await cachedCommit(dir)
    return commit ? openGitTree(dir, source.overlay, commit) : null
  }
  return openTarTree(dir, source.overlay)
}
