import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Request } from '../config/requests.js'
import { type LocalRead, LocalReadLog, readsUnchanged } from '../local/local-reads.js'
import type { FetchedOverlay } from '../overlay/fetch.js'
import type { OverlayTree } from '../overlay/tree.js'
import { encodeReads, loggingTree, OverlayReadLog, overlayReadsUnchanged } from '../overlay/read-log.js'
import type { Unsatisfied } from '../resolve/closure-types.js'
import { OLM_VERSION } from '../version.js'
import { PROVENANCE_FORMAT } from '../repo/plan.js'
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
  overlays: Record<string, { commit: string; reads: OverlayReads | null }>
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

/**
 * An overlay's reads as encodeReads keeps them: decoded only in part, when a
 * sync has to compare them, and written back as they were when only the commit moved.
 */
export type OverlayReads = Buffer

/** 6: package directories are logged with their files' ids ('files' reads), not file by file. */
const FORMAT = 6

const witnessFile = (cacheDir: string) => path.join(cacheDir, 'sync-witness.json')

/** One digest of everything besides the local tree and the overlays' contents that a resolution reads. */
export function witnessInputs(ctx: Context, requests: readonly Request[], fetched: readonly FetchedOverlay[]): string {
  const overlays = [...fetched].map((f) => f.source).sort((a, b) => (a.overlay < b.overlay ? -1 : 1))
  // The local repositories as resolution sees them: olm's own entry, added on first publish, is not one.
  const local = { mainRepo: ctx.reposConf.mainRepo, repos: localRepos(ctx) }
  // Ebuilds are evaluated as the user olm runs as (portage when root), and bash tells them its UID.
  // What olm writes can change within a version (the provenance format): a witness of an older one does not hold.
  const inputs = { olm: OLM_VERSION, provenance: PROVENANCE_FORMAT, uid: process.getuid?.() ?? null, root: ctx.root, settings: ctx.settings, requests, local, overlays }
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
    const overlays = Object.fromEntries(
      fetched.map((f) => {
        const log = overlayReads.get(f.source.overlay)
        return [f.source.overlay, { commit: f.tree.commit, reads: log ? encodeReads(log.reads()) : null }]
      }),
    )
    return { inputs, generation, reads: localReads.reads(), overlays, outcome }
  }
  return { localReads, trees, witness }
}

/**
 * The file is a JSON header line, then the overlays' reads, each at the
 * [start, end) its header entry names: a sync that only moves the commits
 * rewrites the header alone (see moveWitness).
 */
type WitnessHeader = Omit<SyncWitness, 'overlays'> & { overlays: Record<string, { commit: string; reads: [number, number] | null }> }

/** A witness as readWitness found it: with the file's bytes, which moveWitness writes back. */
export type StoredWitness = SyncWitness & { readonly stored: { bytes: Buffer; headerLength: number } }

export async function readWitness(cacheDir: string): Promise<StoredWitness | null> {
  try {
    const buf = await fs.readFile(witnessFile(cacheDir))
    const nl = buf.indexOf(10)
    if (nl < 0) return null
    const header = JSON.parse(buf.toString('utf8', 0, nl)) as WitnessHeader
    if (header.format !== FORMAT || typeof header.inputs !== 'string' || !Array.isArray(header.reads) || !header.overlays || !header.outcome) return null
    const body = buf.subarray(nl + 1)
    const overlays: SyncWitness['overlays'] = {}
    for (const [name, { commit, reads }] of Object.entries(header.overlays)) {
      if (reads !== null && !(Number.isInteger(reads[0]) && Number.isInteger(reads[1]) && 0 <= reads[0] && reads[0] <= reads[1] && reads[1] <= body.length)) return null
      overlays[name] = { commit, reads: reads === null ? null : body.subarray(reads[0], reads[1]) }
    }
    return { ...header, overlays, stored: { bytes: buf, headerLength: nl } }
  } catch {
    return null // missing or damaged: resolve as if there were none
  }
}

export async function writeWitness(cacheDir: string, witness: Omit<SyncWitness, 'format'>): Promise<void> {
  const parts: Buffer[] = []
  let at = 0
  const overlays: WitnessHeader['overlays'] = {}
  for (const [name, { commit, reads }] of Object.entries(witness.overlays)) {
    overlays[name] = { commit, reads: reads === null ? null : [at, (at += reads.length)] }
    if (reads) parts.push(reads)
  }
  const header = JSON.stringify({ ...witness, format: FORMAT, overlays } satisfies WitnessHeader)
  await writeCacheFile(witnessFile(cacheDir), Buffer.concat([Buffer.from(header + '\n'), ...parts]))
}

/**
 * Names newer commits for overlays whose reads still hold, in the file
 * `witness` was read from (olm holds the lock: nothing else wrote it since).
 * The header is written over in place when it keeps its length (commit ids
 * do), so the reads are not written again: a cron sync after an unrelated
 * upstream commit rewrote 1.4 MB for a 1,157-package closure (3.7-5.1 ms; in
 * place 1.4-3.6 ms, and no new file each time). The file is not read again
 * either: in a sync, reading its 1.4 MB a second time took 5-20 ms. A torn
 * header is no valid witness, and no witness costs one full resolution.
 */
export async function moveWitness(cacheDir: string, witness: StoredWitness, commits: Readonly<Record<string, string>>): Promise<void> {
  const file = witnessFile(cacheDir)
  const { bytes: buf, headerLength: nl } = witness.stored
  const header = JSON.parse(buf.toString('utf8', 0, nl)) as WitnessHeader
  for (const [name, commit] of Object.entries(commits)) {
    // Own entries only: an overlay may be named __proto__.
    if (Object.hasOwn(header.overlays, name)) header.overlays[name]!.commit = commit
  }
  const text = Buffer.from(JSON.stringify(header))
  if (text.length !== nl) return writeCacheFile(file, Buffer.concat([text, buf.subarray(nl)]))
  const fh = await fs.open(file, 'r+')
  try {
    await fh.write(text, 0, text.length, 0)
  } finally {
    await fh.close()
  }
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
    if (!was.reads || !(await stillAnswers(f, was.reads, was.commit, treeAt))) return no
    moved = true
  }
  return { holds: true, moved }
}

/**
 * Whether the overlay's new commit answers the reads as the witnessed commit
 * did. A hostile or unreadable commit, or damaged reads, say no: the full
 * resolution that follows reports what is wrong.
 */
async function stillAnswers(
  f: FetchedOverlay,
  reads: OverlayReads,
  commit: string,
  treeAt: (f: FetchedOverlay, commit: string) => Promise<OverlayTree | null>,
): Promise<boolean> {
  try {
    return await overlayReadsUnchanged(f.tree, reads, await treeAt(f, commit))
  } catch {
    return false
  }
}
