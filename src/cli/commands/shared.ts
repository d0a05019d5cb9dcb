import type { Command } from 'commander'
import { OlmError } from '../../errors.js'
import type { Verbosity } from '../render/reporter.js'
import { type Context, loadContext } from '../../core/context.js'
import { acquireLock, unreleased } from '../../repo/lock.js'
import type { CliEnv } from '../env.js'

/** Options every command takes, before or after the command name. */
export interface GlobalOptions {
  root: string
  pretend: boolean
  verbosity: Verbosity
  jobs?: number
}

export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .option('--root <dir>', 'operate on the system under DIR (like portage ROOT)')
    .option('-p, --pretend', 'print the plan, change nothing')
    .option('-q, --quiet', 'errors only (for cron)')
    .option('-v, --verbose', 'say more about each step')
    .option('--jobs <n>', 'overlays fetched in parallel', parseJobs)
}

function parseJobs(value: string): number {
  if (!/^[1-9][0-9]{0,2}$/.test(value)) throw new OlmError('USAGE', `--jobs wants a whole number from 1 to 999, got "${value}"`)
  return Number(value)
}

/** Merges the program's and the command's options: either place works. */
export function globalOptions(cmd: Command): GlobalOptions {
  const all: Record<string, unknown> = {}
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const [k, v] of Object.entries(c.opts())) if (v !== undefined && all[k] === undefined) all[k] = v
  }
  if (all.quiet && all.verbose) throw new OlmError('USAGE', '--quiet and --verbose contradict each other')
  return {
    root: (all.root as string | undefined) ?? '/',
    pretend: all.pretend === true,
    verbosity: all.quiet ? 'quiet' : all.verbose ? 'verbose' : 'normal',
    jobs: all.jobs as number | undefined,
  }
}

/**
 * Loads the configuration under the lock, for commands that change things
 * (add, remove, sync): read before the lock, a concurrent `olm add` could
 * append its line to a file another run then rewrites, or a sync could
 * publish requests that are already stale. The settings are read once first
 * only to learn where the lock lives. Release the lock when done.
 */
export async function lockedContext(g: GlobalOptions, env: CliEnv, command: string): Promise<{ ctx: Context; release: () => Promise<void> }> {
  const report = env.reporter(g)
  const first = await loadContext(g.root, report)
  const lock = await acquireLock(first.cacheDir, {
    command,
    waitMs: 15 * 60_000,
    now: first.now,
    onWait: (h) => report.emit({ type: 'info', message: `waiting for pid ${h.pid} (olm ${h.command}, since ${h.started}) to finish` }),
  })
  // Let go when the work is done: should its removal fail, what was done stands, and the next
  // run takes the lock over (its holder is gone by then).
  const release = () =>
    lock.release().catch((err: Error) => report.emit({ type: 'warn', code: 'WRITE_FAILED', message: unreleased(first.cacheDir, err) }))
  try {
    return { ctx: await loadContext(g.root, report), release }
  } catch (err) {
    await lock.release().catch(() => {}) // the configuration error is the one to report
    throw err
  }
}
