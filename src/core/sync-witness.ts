import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Request } from '../config/requests.js'
import { type LocalRead, LocalReadLog, readsUnchanged } from '../local/local-reads.js'
import type { FetchedOverlay } from '../overlay/fetch.js'
import type { OverlayTree } from '../overlay/tree.js'
import { loggingTree, type OverlayRead, OverlayReadLog, overlayReadsUnchanged } from '../overlay/read-log.js'
import type { Unsatisfied } from '../resolve/closure-types.js'
import { OLM_VERSION } from '../version.js'
import { writeCacheFile } from '../util/cache-file.js'
import { type Context, localRepos } from './context.js'

/**
 * What the last published resolution depended on, kept in cache-dir: its
 * inputs (olm's version, the user it ran as, settings, requests, the local
 * repositories, each overlay's source), every read of the local tree with a
 * digest of its answer, and what it read of each overlay (below).
 * A sync that finds all of it unchanged, and the location still pointing at
 * the generation it published, would resolve to the same repository again:
 * it skips resolving, planning and publishing. Deleting the file costs one
 * full resolution, nothing else.
 */
export interface SyncWitness {
  format: typeof FORMAT
  inputs: string
  generation: string
  reads: LocalRead[]
  /**
   * Per overlay, the commit resolved and what was read of it. A later commit
   * whose answers to those reads are the same (it changed only packages olm
   * does not copy) gives the same repository: it is not resolved either, and
   * the repository keeps naming the commit its files were taken from.
   * Null reads (tarballs): only the same commit holds.
   */
  overlays: Record<string, { commit: string; reads: OverlayRead[] | null }>
  /** what the sync reported, so a skipped one reports the same */
  outcome: SyncOutcome
}

export interface SyncOutcome {
  packages: number
  requested: number
  eclasses: number
  licenses: number
  unsatisfied: Unsatisfied[]
  warnings: string[]
}

const FORMAT = 3

const witnessFile = (cacheDir: string) => path.join(cacheDir, 'sync-witness.json')

/** One digest of everything besides the local tree and the overlays' contents that a resolution reads. */
export function witnessInputs(ctx: Context, requests: readonly Request[], fetched: readonly FetchedOverlay[]): string {
  const overlays = [...fetched].map((f) => f.source).sort((a, b) => (a.overlay < b.overlay ? -1 : 1))
  // The local repositories as resolution sees them: olm's own entry, added on first publish, is not one.
  const local = { mainRepo: ctx.reposConf.mainRepo, repos: localRepos(ctx) }
  // Ebuilds are evaluated as the user olm runs as (portage when root), and bash tells them its UID.
  const inputs = { olm: OLM_VERSION, uid: process.getuid?.() ?? null, root: ctx.root, settings: ctx.settings, requests, local, overlays }
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex')
}

/**
 * Logs what a resolution reads: the local tree, and each git overlay through
 * `trees` (a tarball's content digest is its commit, so it is not logged).
 * `witness` then says what the published result depended on.
 */
export function witnessRecorder(fetched: readonly FetchedOverlay[]) {
  const localReads = new LocalReadLog()
  const overlayReads = new Map(fetched.filter((f) => f.source.kind === 'git').map((f) => [f.source.overlay, new OverlayReadLog()]))
  const trees = new Map<string, OverlayTree>(
    fetched.map((f) => {
      const log = overlayReads.get(f.source.overlay)
      return [f.source.overlay, log ? loggingTree(f.tree, log) : f.tree]
    }),
  )
  const witness = (inputs: string, generation: string, outcome: SyncOutcome): Omit<SyncWitness, 'format'> => {
    const overlays = Object.fromEntries(fetched.map((f) => [f.source.overlay, { commit: f.tree.commit, reads: overlayReads.get(f.source.overlay)?.reads() ?? null }]))
    return { inputs, generation, reads: localReads.reads(), overlays, outcome }
  }
  return { localReads, trees, witness }
}

export async function readWitness(cacheDir: string): Promise<SyncWitness | null> {
  try {
    const w = JSON.parse(await fs.readFile(witnessFile(cacheDir), 'utf8')) as SyncWitness
    return w.format === FORMAT && typeof w.inputs === 'string' && Array.isArray(w.reads) && w.overlays && w.outcome ? w : null
  } catch {
    return null // missing or damaged: resolve as if there were none
  }
}

export async function writeWitness(cacheDir: string, witness: Omit<SyncWitness, 'format'>): Promise<void> {
  await writeCacheFile(witnessFile(cacheDir), JSON.stringify({ format: FORMAT, ...witness }) + '\n')
}

export async function removeWitness(cacheDir: string): Promise<void> {
  await fs.rm(witnessFile(cacheDir), { force: true })
}

/**
 * Whether the witness still holds for these inputs, overlays and the
 * generation now published; `moved` when it holds for overlays at newer
 * commits (the witness should then be rewritten with them).
 */
export async function witnessHolds(
  witness: SyncWitness | null,
  inputs: string,
  fetched: readonly FetchedOverlay[],
  generation: string | null,
  generationDir: string,
  /** the overlay's tree at the commit the witness names, when the cache still has it */
  treeAt: (f: FetchedOverlay, commit: string) => Promise<OverlayTree | null>,
): Promise<{ holds: boolean; moved: boolean }> {
  const no = { holds: false, moved: false }
  if (!witness || witness.inputs !== inputs || witness.generation !== generation) return no
  if (fetched.length !== Object.keys(witness.overlays).length) return no
  const published = await fs.stat(generationDir).then(
    (st) => st.isDirectory(),
    () => false,
  )
  if (!published || !(await readsUnchanged(witness.reads))) return no
  let moved = false
  for (const f of fetched) {
    const was = witness.overlays[f.source.overlay]
    if (!was) return no
    if (was.commit === f.tree.commit) continue
    // A hostile or unreadable new commit is for the full resolution to report.
    if (!was.reads || !(await overlayReadsUnchanged(f.tree, was.reads, await treeAt(f, was.commit)).catch(() => false))) return no
    moved = true
  }
  return { holds: true, moved }
}
