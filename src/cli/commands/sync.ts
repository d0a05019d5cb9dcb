import type { Command } from 'commander'
import { runSync, type SyncOptions, type SyncResult } from '../../core/sync.js'
import type { Context } from '../../core/context.js'
import { EXIT, describeError, exitCodeFor } from '../exit.js'
import { writeLastSync } from '../../core/last-sync.js'
import { planListing, syncSummary } from '../render/summary.js'
import { type CliEnv } from '../env.js'
import { addGlobalOptions, type GlobalOptions, globalOptions, lockedContext } from './shared.js'

export function syncCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('sync'))
    .description('fetch the overlays, resolve what the requests need, and publish the repository')
    .addHelpText('after', '\nExamples:\n  olm sync\n  olm sync --quiet        # what cron runs\n  olm sync --pretend      # show the plan, change nothing')
    .action(async (_opts, cmd: Command) => {
      const g = globalOptions(cmd)
      const { ctx, release } = await lockedContext(g, env, 'sync')
      try {
        env.exitCode = await syncAndReport(ctx, g, env, { command: 'sync' })
      } finally {
        await release()
      }
    })
}

/** Runs a sync and prints its summary; returns the exit status (3 when an overlay kept its previous state). */
export async function syncAndReport(ctx: Context, g: GlobalOptions, env: CliEnv, extra: Partial<SyncOptions> & { command: string }): Promise<number> {
  const record = (exitCode: number, message: string) =>
    g.pretend ? Promise.resolve() : writeLastSync(ctx.cacheDir, { finished: ctx.now().toISOString(), command: extra.command, exitCode, message })
  let result: SyncResult
  try {
    result = await runSync(ctx, { pretend: g.pretend, jobs: g.jobs ?? ctx.settings.jobs, stallMs: testStallMs(), ...extra })
  } catch (err) {
    await record(exitCodeFor(err), describeError(err).join('; ')).catch(() => {})
    throw err
  }
  if (g.pretend) for (const l of planListing(result)) env.out(l)
  const summary = syncSummary(result, ctx.show(ctx.location), g.pretend)
  if (g.verbosity !== 'quiet') for (const l of summary) env.out(l)
  const code = exitStatus(result)
  // Done, published: a record that cannot be kept is a warning (olm status shows the one before).
  await record(code, result.failed.length ? `kept the previous state of ${result.failed.map((f) => f.source.overlay).join(', ')}` : summary[summary.length - 1]!).catch((err: Error) =>
    ctx.report.emit({ type: 'warn', code: 'WRITE_FAILED', message: `could not record this sync in ${ctx.cacheDir} (${err.message})` }),
  )
  return code
}

/**
 * 3 when some overlay kept its previous state and something else was done;
 * 1 when every overlay failed and nothing changed (contract: "1 failed,
 * nothing changed"), so cron can tell a dead network from a partial update.
 */
function exitStatus(result: SyncResult): number {
  if (!result.failed.length) return EXIT.ok
  const nothingDone = result.failed.length === result.fetched.length && !result.repoChanged && !result.reposConfChanged
  return nothingDone ? EXIT.failed : EXIT.partial
}

/**
 * OLM_TEST_HTTP_STALL_MS shortens how long a silent overlay server is waited
 * for, so the test suite can prove a stalled server fails cleanly without
 * waiting a minute. Only for tests (hence the name); not a user setting.
 */
function testStallMs(): number | undefined {
  const raw = process.env.OLM_TEST_HTTP_STALL_MS
  return raw && /^[1-9][0-9]{0,6}$/.test(raw) ? Number(raw) : undefined
}
