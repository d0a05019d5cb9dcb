import { mkdtemp, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { OlmError, type ErrorCode } from '../errors.js'
import { createHttpClient, type CountingHttpClient } from './git-http.js'
import { PackIndexer } from './git-pack.js'
import { FileStorage } from './git-pack-storage.js'
import {
  commitState,
  incomingPackFile,
  initStore,
  installPack,
  listPacks,
  readState,
  removeStaleIncoming,
  restoreStore,
  snapshotStore,
  storeObjectReader,
} from './git-store.js'
import { collectGarbage } from '../util/collect-garbage.js'
import { consolidatePacks } from './git-consolidate.js'
import { openObjectStore } from './git-objects.js'
import { commitTree, parseTree } from './git-tree.js'
import { discoverRefs, type RefAdvertisement, requestPack } from './git-wire.js'

export { openGitTree } from './git-tree.js'

/**
 * The git source: keeps one overlay's branch as a shallow (depth 1), single
 * branch, tag-less bare repository in its cache dir, without a work tree.
 *
 * Per fetch: one GET learns where the branch is (protocol v1 advertisement via
 * isomorphic-git); unchanged means nothing else happens. Otherwise one POST
 * asks upload-pack for a thin pack against the cached commit; the pack is
 * verified (trailer, object count, sizes), completed with its bases from the
 * cache, indexed, and only after the new commit and its tree read back are
 * `shallow` and the branch ref moved. Any failure removes the new pack and
 * restores HEAD, ref and shallow, so the previous cache stays intact.
 */
export interface GitSourceOptions {
  overlay: string
  url: string
  /** Branch to follow; default: the remote HEAD's branch. */
  branch?: string
  /** This overlay's own cache dir (created when missing). */
  cacheDir: string
  signal?: AbortSignal
  onProgress?: (e: { phase: string; loaded: number; total?: number }) => void
  /** Inactivity timeout per request (default 60 s). */
  timeoutMs?: number
  /** Packs allowed before an update consolidates them into one (default 20). Bounds the cache. */
  maxPacks?: number
}

export interface GitFetchResult {
  commit: string
  /** false: the remote branch still points at the cached commit; nothing was downloaded but the ref list. */
  changed: boolean
  /** Response body bytes received, ref advertisement included. */
  bytes: number
}

interface RemoteHead {
  ref: string
  oid: string
  caps: Record<string, string | true>
}

const DEFAULT_MAX_PACKS = 20

export async function fetchGitOverlay(o: GitSourceOptions): Promise<GitFetchResult> {
  const http = createHttpClient({
    signal: o.signal,
    timeoutMs: o.timeoutMs,
    onBytes: (loaded) => o.onProgress?.({ phase: 'receiving', loaded }),
  })
  const remote = await discover(http, o)
  const state = await readState(o.cacheDir)
  if (state.commit === remote.oid && state.ref === remote.ref)
    return { commit: remote.oid, changed: false, bytes: http.bytes() }
  if (!state.commit) {
    await initStore(o.cacheDir, o.url)
    await fetchInto(o.cacheDir, { o, http, remote, haves: [], shallows: [] })
  } else {
    await fetchInto(o.cacheDir, { o, http, remote, haves: [state.commit], shallows: state.shallow })
    // Each update adds a pack: past maxPacks they become one, locally, as git gc does. Only if
    // that fails is the overlay downloaded again, to keep the bound.
    if ((await listPacks(o.cacheDir)).length > (o.maxPacks ?? DEFAULT_MAX_PACKS)) {
      const kept = [remote.oid, state.commit]
      await consolidatePacks(o.cacheDir, kept)
        // both are depth-1 commits whose parents the cache lacks; older ones are gone
        .then(() => commitState(o.cacheDir, remote.ref, remote.oid, kept))
        // The cache as fetched is sound either way: a failed re-clone only leaves the packs for next time.
        .catch(() => reclone(o, http, remote).catch(() => {}))
      collectGarbage() // the indexer's, before the resolve allocates
    }
  }
  return { commit: remote.oid, changed: true, bytes: http.bytes() }
}

/** The commit the cache holds for its branch, or null when there is no usable cache. */
export async function cachedCommit(cacheDir: string): Promise<string | null> {
  return (await readState(cacheDir)).commit
}

async function discover(http: CountingHttpClient, o: GitSourceOptions): Promise<RemoteHead> {
  let info: RefAdvertisement
  try {
    info = await discoverRefs(http, o.url)
  } catch (err) {
    throw failure('SOURCE_UNREACHABLE', o, 'asking for the branch of', err)
  }
  const ref = o.branch ? `refs/heads/${o.branch}` : (info.head ?? headByOid(info.refs))
  const oid = ref ? info.refs.get(ref) : undefined
  if (!ref || !oid) {
    const what = o.branch ? `branch '${o.branch}'` : 'a default branch (HEAD)'
    throw new OlmError('REF_NOT_FOUND', `overlay '${o.overlay}' at ${o.url} has no ${what}`, {
      overlay: o.overlay,
      url: o.url,
    })
  }
  return { ref, oid, caps: info.caps }
}

/** A server too old to advertise symref=HEAD: the branch HEAD's commit is on (main, then master, then any). */
function headByOid(refs: Map<string, string>): string | undefined {
  const head = refs.get('HEAD')
  const branches = [...refs].filter(([name, oid]) => name.startsWith('refs/heads/') && oid === head).map(([name]) => name)
  return branches.find((b) => b === 'refs/heads/main') ?? branches.find((b) => b === 'refs/heads/master') ?? branches[0]
}

interface FetchPlan {
  o: GitSourceOptions
  http: CountingHttpClient
  remote: RemoteHead
  haves: string[]
  shallows: string[]
}

/** One guarded fetch into storeDir: commits the new state only after the pack and commit check out. */
async function fetchInto(storeDir: string, plan: FetchPlan): Promise<void> {
  const { o, remote } = plan
  const snapshot = await snapshotStore(storeDir, remote.ref)
  await removeStaleIncoming(storeDir)
  const incoming = incomingPackFile(storeDir)
  let storage: FileStorage | undefined
  let created: string[] = []
  try {
    // The pack goes to disk and through the indexer as it downloads: memory stays near one object, not the pack.
    storage = new FileStorage(incoming)
    const indexer = new PackIndexer(storage, (loaded, total) => o.onProgress?.({ phase: 'indexing', loaded, total }))
    const got = await requestPack(plan.http, { url: o.url, want: remote.oid, ...plan, serverCaps: remote.caps }, (chunk) => indexer.push(chunk))
    const reader = storeObjectReader(storeDir)
    const indexed = await indexer.finish(reader).finally(() => reader.close())
    if (!indexed.oids.has(remote.oid)) throw new Error(`the pack lacks commit ${remote.oid}`)
    storage.close(true)
    storage = undefined
    created = await installPack(storeDir, indexed.checksum, incoming, indexed.idx)
    readBack(storeDir, remote.oid)
    await commitState(storeDir, remote.ref, remote.oid, [...plan.shallows, ...got.shallow])
  } catch (err) {
    storage?.close(false)
    await Promise.all([incoming, ...created].map((file) => rm(file, { force: true })))
    await restoreStore(storeDir, snapshot)
    throw failure('FETCH_FAILED', o, 'fetching', err)
  }
}

/** Reads the new commit and its root tree back from the store, as the resolver will. */
function readBack(storeDir: string, oid: string): void {
  const store = openObjectStore(storeDir)
  try {
    const commit = store.read(oid)
    if (commit?.type !== 'commit') throw new Error(`commit ${oid} does not read back from the cache`)
    const tree = store.read(commitTree(commit.data))
    if (tree?.type !== 'tree') throw new Error(`the tree of commit ${oid} does not read back from the cache`)
    parseTree(tree.data)
  } finally {
    store.close()
  }
}

/** Fetches a fresh depth-1 cache beside the old one and swaps it in: the bound on pack count. */
async function reclone(o: GitSourceOptions, http: CountingHttpClient, remote: RemoteHead): Promise<void> {
  const cacheDir = path.resolve(o.cacheDir)
  const freshDir = await mkdtemp(path.join(path.dirname(cacheDir), `.${path.basename(cacheDir)}.reclone-`))
  try {
    await initStore(freshDir, o.url)
    await fetchInto(freshDir, { o, http, remote, haves: [], shallows: [] })
  } catch (err) {
    await rm(freshDir, { recursive: true, force: true })
    throw err
  }
  const retiredDir = `${freshDir}.retired`
  await rename(cacheDir, retiredDir)
  await rename(freshDir, cacheDir)
  await rm(retiredDir, { recursive: true, force: true })
}

function failure(code: ErrorCode, o: GitSourceOptions, doing: string, err: unknown): OlmError {
  if (err instanceof OlmError) return err
  const reason = err instanceof Error ? err.message : String(err)
  return new OlmError(code, `${doing} overlay '${o.overlay}' from ${o.url} failed: ${reason}`, {
    overlay: o.overlay,
    url: o.url,
  }, { cause: err })
}
