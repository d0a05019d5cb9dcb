import type { Command } from 'commander'
import { OlmError, OlmErrors } from '../../errors.js'
import { planAppend, rememberFiles, writeConfigFile } from '../../config/edit.js'
import { type Request, checkRequestConflicts, formatRequest, parseRequest } from '../../config/requests.js'
import { checkLocalRepos, resolveSources } from '../../core/context.js'
import { EXIT } from '../exit.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions, lockedContext } from './shared.js'
import { syncAndReport } from './sync.js'

export function addCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('add'))
    .description('request packages from overlays, then sync')
    .argument('<atom::overlay...>', 'what to add, written like a packages.d line')
    .option('--no-sync', 'only record the requests')
    .addHelpText('after', '\nExamples:\n  olm add sys-kernel/tt-kmd::tenstorrent\n  olm add ">=dev-python/foo-2::guru" app-misc/bar::guru\n  olm add --no-sync dev-nim/nimbus::guru')
    .action(async (args: string[], opts: { sync: boolean }, cmd: Command) => {
      const g = globalOptions(cmd)
      const { ctx, release } = await lockedContext(g, env, 'add')
      try {
        const added = parseArguments(args, ctx.paths.addFile, ctx.requests)
        const unique = added.filter((r, i) => added.findIndex((o) => formatRequest(o) === formatRequest(r)) === i)
        const fresh = unique.filter((r) => !ctx.requests.some((old) => formatRequest(old) === formatRequest(r)))
        for (const r of unique) if (!fresh.includes(r)) env.err(`${r.raw} is already requested`)
        // Unknown overlays, and a local tree olm cannot resolve against, are refused before anything is written or fetched.
        if (opts.sync && fresh.length) await checkLocalRepos(ctx)
        await resolveSources(ctx, [...new Set(fresh.map((r) => r.overlay))], { refresh: !g.pretend })
        // The new lines are the requests a later sync will read back (file, line, text), so provenance matches it.
        const appended = await planAppend(ctx.paths.addFile, fresh.map(formatRequest))
        const recorded = fresh.map((r, i) => parseRequest(formatRequest(r), { file: ctx.paths.addFile, line: appended.lineNumbers[i]! }))
        const write = async () => {
          if (!fresh.length) return
          const undo = await rememberFiles([ctx.paths.addFile])
          await writeConfigFile(ctx.paths.addFile, appended.text)
          return undo
        }
        if (!opts.sync) {
          if (!g.pretend) await write()
          if (g.verbosity !== 'quiet') env.out(`${g.pretend ? 'would record' : 'recorded'} ${fresh.length} request(s) in ${ctx.show(ctx.paths.addFile)}`)
          env.exitCode = EXIT.ok
          return
        }
        env.exitCode = await syncAndReport(ctx, g, env, { command: 'add', requests: [...ctx.requests, ...recorded], beforePublish: write })
      } finally {
        await release()
      }
    })
}

/** Every argument is checked before anything is written; all problems are reported together. */
function parseArguments(args: string[], file: string, existing: Request[]): Request[] {
  const errors: OlmError[] = []
  const out: Request[] = []
  args.forEach((arg, i) => {
    try {
      out.push(parseRequest(arg, { file: `argument ${i + 1}`, line: 0 }))
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      errors.push(new OlmError(err.code, err.message, { hint: 'write category/package::overlay, optionally with a version operator' }))
    }
  })
  const conflicts = checkRequestConflicts([...existing, ...out.map((r) => ({ ...r, file }))])
  errors.push(...conflicts.map((e) => new OlmError(e.code, e.message, { package: e.context.package })))
  if (errors.length) throw new OlmErrors(errors)
  return out.map((r) => ({ ...r, file }))
}
