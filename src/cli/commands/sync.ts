import type { Command } from 'commander'
import { loadContext } from '../../core/context.js'
import { runSync, type SyncOptions, type SyncResult } from '../../core/sync.js'
import type { Context } from '../../core/context.js'
import { EXIT } from '../exit.js'
import { planListing, syncSummary } from '../render/summary.js'
import { type CliEnv } from '../env.js'
import { addGlobalOptions, type GlobalOptions, globalOptions } from './shared.js'

export function syncCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('sync'))
    .description('fetch the overlays, resolve what the requests need, and publish the repository')
    .addHelpText('after', '\nExamples:\n  olm sync\n  olm sync --quiet        # what cron runs\n  olm sync --pretend      # show the plan, change nothing')
    .action(async (_opts, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      env.exitCode = await syncAndReport(ctx, g, env, { command: 'sync' })
    })
}

/** Runs a sync and prints its summary; returns the exit status (3 when an overlay kept its previous state). */
export async function syncAndReport(ctx: Context, g: GlobalOptions, env: CliEnv, extra: Partial<SyncOptions> & { command: string }): Promise<number> {
  const result: SyncResult = await runSync(ctx, { pretend: g.pretend, jobs: g.jobs ?? ctx.settings.jobs, ...extra })
  if (g.pretend) for (const l of planListing(result)) env.out(l)
  if (g.verbosity !== 'quiet') for (const l of syncSummary(result, ctx.show(ctx.location), g.pretend)) env.out(l)
  return result.failed.length ? EXIT.partial : EXIT.ok
}
