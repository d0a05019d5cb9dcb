import fs from 'node:fs/promises'
import path from 'node:path'
import pLimit from 'p-limit'
import { OlmError } from '../errors.js'
import type { Request } from '../config/requests.js'
import { type FetchedOverlay, fetchOverlay, openCachedCommit } from '../overlay/fetch.js'
import type { OverlaySource } from '../overlay/registry.js'
import type { LocalReadLog } from '../local/local-reads.js'
import type { OverlayTree } from '../overlay/tree.js'
import { buildPlan, type WritePlan } from '../repo/plan.js'
import { acquireLock, type LockOptions, unreleased } from '../repo/lock.js'
import { collectGarbage } from '../util/collect-garbage.js'
import { claimGenerations, currentGeneration, generationName, generationsDir, listRecyclable, type Listings, type PublishResult, publishPlan } from '../repo/publish.js'
import { registerRepository } from '../repo/repos-conf-entry.js'
import type { Closure } from '../resolve/closure-types.js'
import { resolveClosure } from '../resolve/closure.js'
import { MetadataMemo } from '../resolve/metadata-memo.js'
import { createOverlayIndex, type MetadataEvaluator, type OverlayIndex } from '../resolve/overlay-index.js'
import { writeCacheFile } from '../util/cache-file.js'
import { checkLocalRepos, type Context, openLocal, resolveSources } from './context.js'
import { createSyncEvaluator } from './metadata.js'
import { moveWitness, type SyncOutcome, type SyncWitness, readWitness, removeWitness, witnessHolds, witnessInputs, witnessRecorder, writeWitness } from './sync-witness.js'
import { diffProvenance, type PackageChange, readProvenance } from './provenance.js'

export interface SyncOptions {
  pretend: boolean
  jobs: number
  /** requests to use instead of the configured ones (olm add / remove compute them) */
  requests?: Request[]
  /**
   * Runs after everything is resolved and before the repository is published:
   * olm add/remove write their config here, and return how to undo it should
   * publishing fail (exit 1 means nothing changed).
   */
  beforePublish?: () => Promise<(() => Promise<void>) | void>
  evaluate?: MetadataEvaluator
  signal?: AbortSignal
  lockWaitMs?: number
  /** Longest silence from an overlay's server before its fetch fails (default: the http clients' own). */
  stallMs?: number
  command: string
}

export interface SyncResult {
  outcome: SyncOutcome
  /** absent when nothing the last resolution read had changed, so it was not done again */
  plan?: WritePlan
  fetched: FetchedOverlay[]
  /** overlays that failed to fetch and were used from their previous cache */
  failed: FetchedOverlay[]
  repoChanged: boolean
  reposConfChanged: boolean
  changes: PackageChange[]
}

/**
 * The main job: fetch every overlay named by a request (in parallel), resolve
 * the closure, and publish the generated repository atomically. Request
 * problems throw OlmError before anything is written.
 */
export async function runSync(ctx: Context, opts: SyncOptions): Promise<SyncResult> {
  const requests = opts.requests ?? ctx.requests
  // With nothing requested (the last one removed) nothing is resolved against the local tree.
  if (requests.length) for (const message of await checkLocalRepos(ctx)) ctx.report.emit({ type: 'warn', code: 'NOTICE', message })
  const names = [...new Set(requests.map((r) => r.overlay))]
  const sources = await resolveSources(ctx, names, { refresh: !opts.pretend, signal: opts.signal })
  const lockOptions: LockOptions = {
    command: opts.command,
    waitMs: opts.lockWaitMs ?? 15 * 60_000,
    now: ctx.now,
    onWait: (h) => ctx.report.emit({ type: 'info', message: `waiting for pid ${h.pid} (olm ${h.command}, since ${h.started}) to finish` }),
  }
  // Pretend fetches too (the cache is disposable), so it serializes like any run.
  const lock = await acquireLock(ctx.cacheDir, lockOptions)
  // Cache writes that need not hold the sync up: done before the lock is let go.
  const background: Promise<void>[] = []
  try {
    const fetched = await fetchAll(ctx, [...sources.values()], opts)
    const failed = fetched.filter((f) => f.failure)
    const inputs = witnessInputs(ctx, requests, fetched)
    // Only a plain `olm sync` may stand on the last resolution: add and remove change what is requested.
    if (!opts.pretend && !opts.beforePublish) {
      const reused = await reuseLastResolution(ctx, inputs, fetched)
      if (reused) return { ...(await finishUnchanged(ctx, reused)), fetched, failed }
    }
    const recorder = witnessRecorder(fetched)
    // Publishing lists the generation it will build in; that can start now, beside the resolving.
    // Every listing has ended before the lock is let go, used or not (a failed resolve, no change).
    const listings = opts.pretend ? null : listRecyclable(ctx.location)
    if (listings) background.push(listings.then((started) => Promise.allSettled([...started.values()].map((l) => l.found))).then(() => {}))
    const { outcome, plan, changes } = await resolveAndPlan(ctx, opts, requests, recorder.trees, recorder.localReads, background)
    collectGarbage() // the resolver's structures, before publishing allocates
    const result: SyncResult = { outcome, plan, fetched, failed, repoChanged: false, reposConfChanged: false, changes }
    if (opts.pretend) {
      result.repoChanged = (await currentGenerationOrNull(ctx.location)) !== generationName(plan)
      return result
    }
    const published = await publishLocked(plan, ctx.location, listings, lockOptions, opts.beforePublish)
    result.repoChanged = published.changed
    if (published.warning) ctx.report.emit({ type: 'warn', code: 'WRITE_FAILED', message: published.warning })
    // Only a speed-up: without it the next sync resolves in full.
    await writeWitness(ctx.cacheDir, recorder.witness(inputs, published.generation, outcome)).catch(() => removeWitness(ctx.cacheDir).catch(() => {}))
    result.reposConfChanged = (await registerRepository(ctx.paths.reposConf, ctx.settings.repoName, ctx.settings.location)).changed
    ctx.report.emit({ type: 'write:done', location: ctx.show(ctx.location), changed: published.changed })
    return result
  } finally {
    try {
      await Promise.allSettled(background)
    } finally {
      await lock.release().catch((err: Error) => ctx.report.emit({ type: 'warn', code: 'WRITE_FAILED', message: unreleased(ctx.cacheDir, err) }))
    }
  }
}

/**
 * Publishes under a second lock, in the generations directory: the one in
 * cache-dir does not guard them from an olm that took another (cache-dir
 * deleted while a sync ran, another configuration naming the same location),
 * whose prune or recycling would take what this one writes. Taken only when
 * there is something to write (a sync that changes nothing touches nothing
 * outside cache-dir), and before `beforePublish` (add's and remove's edit of
 * a request): a run stopped while it waits has changed nothing. That edit is
 * undone when the publish fails.
 */
async function publishLocked(
  plan: WritePlan,
  location: string,
  listings: Promise<Listings> | null,
  lockOptions: LockOptions,
  beforePublish: SyncOptions['beforePublish'],
): Promise<PublishResult> {
  const lock = await claimGenerations(plan, location, lockOptions)
  let published: PublishResult
  try {
    const undo = await beforePublish?.()
    published = lock
      ? await Promise.resolve(listings)
          .then((listed) => publishPlan(plan, location, undefined, undefined, undefined, listed ?? undefined))
          .catch(async (err: unknown) => {
            if (undo) await undo().catch(() => {}) // the publish error is the one to report
            throw err
          })
      : { changed: false, generation: generationName(plan) }
  } catch (err) {
    await lock?.release().catch(() => {})
    throw err
  }
  // Published, so live: a lock that cannot be removed is a warning, like any failure after the
  // swap (add and remove would undo their edit of a request the repository holds). Its holder is
  // gone once olm exits; the next publish takes it over.
  return (lock?.release() ?? Promise.resolve()).then(
    () => published,
    (err: Error) => {
      const warning = `published ${location}, but ${unreleased(generationsDir(location), err)}`
      return { ...published, warning: published.warning ? `${published.warning}\n${warning}` : warning }
    },
  )
}

async function fetchAll(ctx: Context, sources: OverlaySource[], opts: SyncOptions): Promise<FetchedOverlay[]> {
  const limit = pLimit(Math.max(1, opts.jobs))
  const results = await Promise.allSettled(
    sources.map((s) => limit(() => fetchOverlay(s, { cacheDir: ctx.cacheDir, report: ctx.report, signal: opts.signal, network: true, stallMs: opts.stallMs }))),
  )
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))
  if (errors.length) {
    const first = errors[0]
    if (!(first instanceof OlmError)) throw first
    // Nothing is published while an overlay has neither a fresh fetch nor a previous cache.
    throw new OlmError(first.code, errors.map((e) => (e instanceof OlmError ? e.message : String(e))).join('\n'), first.context)
  }
  return results.map((r) => (r as PromiseFulfilledResult<FetchedOverlay>).value)
}

/**
 * Resolves and plans. Only the plan and what is reported leave it: the
 * closure and the overlay indexes (every examined ebuild's metadata) can be
 * collected while the repository is written, which is when memory peaks.
 */
async function resolveAndPlan(ctx: Context, opts: SyncOptions, requests: Request[], trees: Map<string, OverlayTree>, reads: LocalReadLog, background: Promise<void>[]) {
  const closure = await resolve(ctx, opts, requests, trees, reads, background)
  // The overlay indexes (every examined ebuild's metadata) are garbage now; the plan's entries
  // and provenance are what comes next (a 1,157-package add peaked here: 139 MiB).
  collectGarbage()
  const outcome = outcomeOf(closure)
  reportOutcome(ctx, outcome, false)
  const plan = await buildPlan(closure, { repoName: ctx.settings.repoName, trees, displayPath: ctx.show })
  const changes = diffProvenance(await readProvenance(ctx.location), closure)
  return { outcome, plan, changes }
}

async function resolve(ctx: Context, opts: SyncOptions, requests: Request[], trees: Map<string, OverlayTree>, reads: LocalReadLog, background: Promise<void>[]): Promise<Closure> {
  const evaluator = opts.evaluate ? null : createSyncEvaluator(ctx, reads)
  const evaluate = opts.evaluate ?? evaluator!.evaluate
  const memo = MetadataMemo.parse(await fs.readFile(memoFile(ctx.cacheDir), 'utf8').catch(() => null))
  const indexes = new Map<string, OverlayIndex>([...trees].map(([name, tree]) => [name, createOverlayIndex(tree, evaluate, memo)]))
  const closure = await resolveClosure({ requests, overlays: indexes, local: openLocal(ctx, reads), displayPath: ctx.show }).finally(() => evaluator?.close())
  // Only a speed-up for the next resolution: a failure to keep it is no failure, and planning
  // need not wait for it (a 1,157-package closure's memo: 4 MB, ~15 ms).
  background.push(writeCacheFile(memoFile(ctx.cacheDir), memo.serialize()).catch(() => {}))
  return closure
}

/** What resolutions learned from md5-cache entries (see MetadataMemo). */
const memoFile = (cacheDir: string) => path.join(cacheDir, 'metadata-memo.json')

/** The last resolution's witness when it still holds (see SyncWitness). */
async function reuseLastResolution(ctx: Context, inputs: string, fetched: FetchedOverlay[]): Promise<SyncWitness | null> {
  const witness = await readWitness(ctx.cacheDir)
  const current = await currentGenerationOrNull(ctx.location)
  if (!witness || current === null) return null
  const treeAt = (f: FetchedOverlay, commit: string) => openCachedCommit(ctx.cacheDir, f.source, commit)
  // A witness damaged into valid JSON of the wrong shape is one that does not hold: the full resolution follows.
  const { holds, moved } = await witnessHolds(witness, inputs, fetched, current, path.join(generationsDir(ctx.location), current), treeAt).catch(() => ({ holds: false, moved: false }))
  if (!holds) return null
  if (moved) {
    // The same reads hold at the new commits: the next sync compares against those.
    const commits = Object.fromEntries(fetched.map((f) => [f.source.overlay, f.tree.commit]))
    await moveWitness(ctx.cacheDir, witness, commits).catch(() => removeWitness(ctx.cacheDir).catch(() => {}))
  }
  return witness
}

async function finishUnchanged(ctx: Context, witness: SyncWitness): Promise<Omit<SyncResult, 'fetched' | 'failed'>> {
  reportOutcome(ctx, witness.outcome, true)
  const reposConfChanged = (await registerRepository(ctx.paths.reposConf, ctx.settings.repoName, ctx.settings.location)).changed
  ctx.report.emit({ type: 'write:done', location: ctx.show(ctx.location), changed: false })
  return { outcome: witness.outcome, repoChanged: false, reposConfChanged, changes: [] }
}

function outcomeOf(closure: Closure): SyncOutcome {
  const { packages, eclasses, licenses, unsatisfied, warnings } = closure
  return { packages: packages.length, requested: packages.filter((p) => p.requested).length, eclasses: eclasses.length, licenses: licenses.length, unsatisfied, warnings }
}

function reportOutcome(ctx: Context, o: SyncOutcome, reused: boolean): void {
  ctx.report.emit({ type: 'resolve:done', packages: o.packages, eclasses: o.eclasses, licenses: o.licenses, reused })
  for (const u of o.unsatisfied) ctx.report.emit({ type: 'warn', code: 'UNSATISFIED_DEP', message: `nothing satisfies ${u.atom}: ${u.chain.join(' -> ')}` })
  for (const w of o.warnings) ctx.report.emit({ type: 'warn', code: 'NOTICE', message: w })
}

async function currentGenerationOrNull(location: string): Promise<string | null> {
  try {
    return await currentGeneration(location)
  } catch {
    return null
  }
}
