import os from 'node:os'
import path from 'node:path'
import { underRoot } from '../config/paths.js'
import type { LocalReadLog } from '../local/local-reads.js'
import { createMetadataEvaluator, type MetadataEvaluatorHandle } from '../metadata/evaluator.js'
import { readEvaluationUser } from '../metadata/user.js'
import type { MetadataEvaluator } from '../resolve/overlay-index.js'
import { once } from '../util/once.js'
import type { Context } from './context.js'

/**
 * Evaluates ebuilds that have no valid md5-cache entry (pms.md §6), with the
 * eclasses of each overlay's masters as the local tree has them. One bash
 * worker pool per distinct master list; all closed by close().
 */
export function createSyncEvaluator(ctx: Context, localReads?: LocalReadLog): { evaluate: MetadataEvaluator; close(): Promise<void> } {
  const pools = new Map<string, MetadataEvaluatorHandle>()
  // As root, ebuilds run as portage (or nobody); as a user, as that user.
  const user = once(() => readEvaluationUser())
  const evaluate: MetadataEvaluator = async (index, ebuild) => {
    const masters = (await index.layout()).masters ?? [ctx.reposConf.mainRepo]
    const dirs = masters.map((m) => localRepoDir(ctx, m)).filter((d): d is string => d !== null).map((d) => path.join(d, 'eclass'))
    const key = dirs.join('\0')
    let pool = pools.get(key)
    if (!pool) {
      const runAs = await user()
      pool = createMetadataEvaluator({ masterEclassDirs: dirs, cacheDir: ctx.cacheDir, jobs: os.availableParallelism(), runAs: runAs && { uid: runAs.uid, gid: runAs.gid }, localReads })
      pools.set(key, pool)
    }
    return pool(index, ebuild)
  }
  return { evaluate, close: async () => void (await Promise.all([...pools.values()].map((p) => p.close()))) }
}

/** Host path of a repository the local tree has, by name (gentoo is assumed where repos.conf names none). */
function localRepoDir(ctx: Context, name: string): string | null {
  const entry = ctx.reposConf.repos.get(name)
  if (entry?.location) return underRoot(ctx.root, entry.location)
  return name === 'gentoo' ? underRoot(ctx.root, '/var/db/repos/gentoo') : null
}
