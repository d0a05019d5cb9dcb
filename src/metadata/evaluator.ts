/**
 * Metadata of ebuilds without a valid md5-cache entry, computed the way the
 * package manager's depend phase does (pms.md §6): each ebuild is sourced by
 * bash with the harness of harness.sh, `inherit` searching the overlay's own
 * eclasses first, then its masters' (§6.6). Results are cached in cache-dir.
 *
 * Ebuilds are untrusted code: bash runs with an empty environment, stdin and
 * stdout on /dev/null, in a scratch directory, under a time limit, with
 * process/CPU/memory/file-size limits, and as `runAs` when given (see
 * readEvaluationUser). An ebuild that fails, hangs or misbehaves rejects its
 * own call with OlmError('METADATA_INVALID') naming the overlay and file;
 * other calls are not affected.
 */
import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import os from 'node:os'
import { OlmError } from '../errors.js'
import { type EclassSnapshot, eclassDirDigest, readEclassDir } from '../local/eclass-dir.js'
import type { LocalReadLog } from '../local/local-reads.js'
import type { MetadataEvaluator, OverlayEbuild, OverlayIndex } from '../resolve/overlay-index.js'
import type { CacheEntry } from '../pms/md5cache.js'
import { md5Hex } from '../pms/md5.js'
import { SUPPORTED_EAPIS, parseHeadEapi, splitRevision } from './eapi.js'
import { createWorkerPool, type WorkerPool } from './pool.js'
import { PRELUDE } from './prelude.js'
import { openResultsCache } from './results-cache.js'
import { createScratch, type Scratch } from './scratch.js'
import { type EvalResult, startWorker } from './worker.js'
import { once } from '../util/once.js'

export interface EvaluatorOptions {
  /** Eclass directories of the overlays' masters (host paths), in master order, e.g. [/var/db/repos/gentoo/eclass]. */
  masterEclassDirs: string[]
  /** Persistent cache of results (a `metadata/` directory is created inside). */
  cacheDir: string
  /** Bash workers run in parallel; default: the number of CPUs. */
  jobs?: number
  /** Time limit per ebuild; default 30 s. */
  timeoutMs?: number
  /** Evaluate as this user (spawn uid/gid); needs root. See readEvaluationUser. */
  runAs?: { uid: number; gid: number }
  /** Where the scratch directory is created; default os.tmpdir(). */
  scratchParentDir?: string
  /** default /bin/bash, else /usr/bin/bash */
  bashPath?: string
  /** told what each master's eclass directory held when it was read (see LocalReadLog) */
  localReads?: LocalReadLog
}

export interface EvaluatorStats {
  /** ebuilds sourced by bash */
  evaluated: number
  /** answered from cache-dir */
  cached: number
  /** rejected with METADATA_INVALID */
  failed: number
}

export type MetadataEvaluatorHandle = MetadataEvaluator & {
  readonly stats: EvaluatorStats
  /** Stops the bash workers and removes the scratch directory. */
  close(): Promise<void>
}

/** Harness identity: a changed harness never reuses results of an older one. */
const HARNESS_VERSION = md5Hex(PRELUDE)

const DEFAULT_TIMEOUT_MS = 30_000
const MEMORY_KIB = 1024 * 1024

export function createMetadataEvaluator(opts: EvaluatorOptions): MetadataEvaluatorHandle {
  const cache = openResultsCache(opts.cacheDir, HARNESS_VERSION)
  // §6.6: last master first. Read once, so bash sources the bytes whose md5s are recorded.
  const masters = once(() =>
    Promise.all(
      [...opts.masterEclassDirs].reverse().map(async (dir) => {
        const snapshot = await readEclassDir(dir)
        opts.localReads?.record('eclasses', dir, eclassDirDigest(snapshot))
        return snapshot
      }),
    ),
  )
  const stats: EvaluatorStats = { evaluated: 0, cached: 0, failed: 0 }
  let runtime: Promise<Runtime> | undefined

  /** md5 of the eclass `inherit NAME` would source (§6.6), null when none would be found. */
  const eclassMd5 = async (index: OverlayIndex, name: string): Promise<string | null> => {
    const own = (await index.eclassMd5s([name])).get(name)
    if (own !== undefined) return own
    for (const dir of await masters()) {
      const found = dir.get(name)
      if (found) return found.md5
    }
    return null
  }
  /** md5 of what bash reported sourcing: search index 0 is the overlay, i the i-th master searched. */
  const sourcedMd5 = async (index: OverlayIndex, name: string, searchIndex: number): Promise<string | null> =>
    searchIndex === 0
      ? ((await index.eclassMd5s([name])).get(name) ?? null)
      : ((await masters())[searchIndex - 1]?.get(name)?.md5 ?? null)

  const evaluate = async (index: OverlayIndex, ebuild: OverlayEbuild): Promise<CacheEntry> => {
    const fail = (reason: string) => {
      stats.failed++
      return new OlmError('METADATA_INVALID', `${ebuild.category}/${ebuild.pn}-${ebuild.pvr} in ::${index.overlay}: ${reason}`, {
        file: ebuild.relPath,
        overlay: index.overlay,
        package: `${ebuild.category}/${ebuild.pn}`,
      })
    }
    const bytes = await index.tree.readFile(ebuild.source ?? ebuild.relPath)
    if (!bytes) throw fail('the ebuild is not a regular file')
    const ebuildMd5 = md5Hex(bytes)
    const eapi = parseHeadEapi(bytes.toString('utf8'), ebuild.relPath)
    // PMS: an ebuild of an unknown EAPI is not sourced; only its EAPI is known.
    if (!SUPPORTED_EAPIS.has(eapi)) return { keys: new Map([['EAPI', eapi]]), eclasses: [], md5: ebuildMd5 }

    const key = { cpv: `${ebuild.category}/${ebuild.pn}-${ebuild.pvr}`, ebuildMd5 }
    const hit = await cache.get(key, (name) => eclassMd5(index, name))
    if (hit) {
      stats.cached++
      return hit
    }
    const { scratch, pool } = await (runtime ??= startRuntime(opts, masters))
    const { pv, pr } = splitRevision(ebuild.version)
    const result = await pool.run({
      ebuildFile: await scratch.ebuildFile(index.tree, ebuild.relPath, bytes),
      ownEclassDir: await scratch.eclassDir(index.tree),
      category: ebuild.category,
      pn: ebuild.pn,
      pv,
      pr,
      eapi,
    })
    if (!result.ok) throw fail(describeFailure(result))
    const entry = await toCacheEntry(result, ebuildMd5, (name, i) => sourcedMd5(index, name, i))
    if (typeof entry === 'string') throw fail(entry)
    stats.evaluated++
    await cache.put(key, entry)
    return entry
  }

  return Object.assign(evaluate, {
    stats,
    async close() {
      const r = runtime
      runtime = undefined
      if (!r) return
      const { scratch, pool } = await r
      await pool.close()
      await scratch.remove()
    },
  })
}

interface Runtime {
  scratch: Scratch
  pool: WorkerPool
}

async function startRuntime(opts: EvaluatorOptions, masters: () => Promise<EclassSnapshot[]>): Promise<Runtime> {
  const scratch = await createScratch(opts.scratchParentDir ?? os.tmpdir())
  const searchDirs: string[] = []
  for (const snapshot of await masters())
    searchDirs.push(await scratch.masterEclassDir(new Map([...snapshot].map(([name, { bytes }]) => [name, bytes]))))
  const jobs = Math.max(1, opts.jobs ?? os.availableParallelism())
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const uid = opts.runAs?.uid ?? process.getuid?.() ?? 0
  const limits = {
    // RLIMIT_NPROC counts every process of the uid: leave room above what runs already
    processes: (await countProcessesOf(uid)) + 64 + 16 * jobs,
    cpuSeconds: Math.ceil(timeoutMs / 1000) + 1,
    memoryKiB: MEMORY_KIB,
  }
  const bashPath = opts.bashPath ?? (existsSync('/bin/bash') ? '/bin/bash' : '/usr/bin/bash')
  const pool = createWorkerPool(jobs, () =>
    startWorker({ bashPath, workDir: scratch.workDir, eclassSearchDirs: searchDirs, timeoutMs, limits, runAs: opts.runAs }),
  )
  return { scratch, pool }
}

/** md5-cache form: keys sorted, empty ones dropped, eclasses by name (as egencache writes them). */
async function toCacheEntry(
  result: Extract<EvalResult, { ok: true }>,
  md5: string,
  eclassMd5: (name: string, searchIndex: number) => Promise<string | null>,
): Promise<CacheEntry | string> {
  const keys = new Map([...result.keys].filter(([, v]) => v !== '').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  const eclasses: CacheEntry['eclasses'] = []
  for (const { name, searchIndex } of result.eclasses) {
    const eclassHash = await eclassMd5(name, searchIndex)
    if (eclassHash === null) return `eclass ${name} changed or vanished while the ebuild was evaluated`
    eclasses.push({ name, md5: eclassHash })
  }
  eclasses.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return { keys, eclasses, md5 }
}

function describeFailure(result: Extract<EvalResult, { ok: false }>): string {
  const lastLines = result.stderr.trim().split('\n').slice(-3).join(' | ')
  return lastLines === '' || result.reason.startsWith('died:') ? result.reason : `${result.reason}: ${lastLines}`
}

/** Processes whose /proc entry belongs to uid; a generous guess where /proc is unreadable. */
async function countProcessesOf(uid: number): Promise<number> {
  let names: string[]
  try {
    names = await readdir('/proc')
  } catch {
    return 4096
  }
  const owners = await Promise.all(
    names.filter((n) => /^\d+$/.test(n)).map((n) => stat(`/proc/${n}`).then((s) => s.uid, () => -1)),
  )
  return owners.filter((o) => o === uid).length
}

