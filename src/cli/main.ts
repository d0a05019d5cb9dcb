import { Command, CommanderError } from 'commander'
import { OlmError, OlmErrors } from '../errors.js'
import { addCommand } from './commands/add.js'
import { completeCommand } from './commands/complete.js'
import { listCommand, overlaysCommand, whyCommand } from './commands/inspect.js'
import { removeCommand } from './commands/remove.js'
import { addGlobalOptions } from './commands/shared.js'
import { searchCommand } from './commands/search.js'
import { statusCommand } from './commands/status.js'
import { syncCommand } from './commands/sync.js'
import type { CliEnv } from './env.js'
import { EXIT, describeError, exitCodeFor } from './exit.js'
import { terminalReporter } from './render/reporter.js'
import { OLM_VERSION as VERSION } from '../version.js'


/** Runs olm with the given arguments and returns the exit status. The only place that knows about process streams. */
export async function main(argv: string[]): Promise<number> {
  // What olm writes is read by portage and fed to root's builds: never more
  // open than 0755/0644, whatever umask cron or a shell left (the cache too).
  process.umask(process.umask() | 0o022)
  // `olm list | head`: a closed pipe ends the output, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
  const color = process.stderr.isTTY === true && !process.env.NO_COLOR
  let finish = () => {}
  const env: CliEnv = {
    exitCode: EXIT.ok,
    out: (line) => void process.stdout.write(line + '\n'),
    err: (line) => void process.stderr.write(line + '\n'),
    reporter: (g) => {
      const r = terminalReporter({ verbosity: g.verbosity, stderr: process.stderr, color })
      finish = r.finish
      return r
    },
  }
  const program = buildProgram(env)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return env.exitCode
  } catch (err) {
    finish()
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (err instanceof OlmError || err instanceof OlmErrors) {
      for (const line of describeError(err)) env.err(`olm: ${line}`)
      return exitCodeFor(err)
    }
    if (isSystemError(err)) {
      // A full disk, a failing one, a permission: the system's problem, not a bug in olm.
      env.err(`olm: ${err.message}`)
      return EXIT.failed
    }
    env.err(`olm: internal error, please report it with the command you ran (olm ${VERSION}):`)
    env.err(err instanceof Error ? (err.stack ?? err.message) : String(err))
    return EXIT.failed
  }
}

export function buildProgram(env: CliEnv): Command {
  const program = addGlobalOptions(new Command('olm'))
    .description('overlayman: copy chosen packages, with the eclasses, licenses and dependencies they need, from Gentoo overlays into one local repository')
    .version(VERSION, '--version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => env.err(s.trimEnd()) })
    .showHelpAfterError('(olm --help lists the commands)')
    .addHelpText('after', '\nExamples:\n  olm add sys-kernel/tt-kmd::tenstorrent\n  olm sync --quiet\n  olm why dev-python/requests\n\nExit status: 0 done, 1 failed, 2 usage or configuration error, 3 partly done.\nSee olm(1) and overlayman.conf(5).')
  for (const register of [addCommand, removeCommand, syncCommand, listCommand, whyCommand, overlaysCommand, searchCommand, statusCommand, completeCommand]) register(program, env)
  for (const cmd of program.commands) cmd.exitOverride()
  return program
}

function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException
  return err instanceof Error && typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) && typeof e.syscall === 'string'
}
