import type { Command } from 'commander'
import { OlmError, OlmErrors } from '../../errors.js'
import { dropLines, rememberFiles } from '../../config/edit.js'
import type { Request } from '../../config/requests.js'
import { type Atom, atomKey, formatAtom, parseAtom } from '../../pms/atom.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions, lockedContext } from './shared.js'
import { syncAndReport } from './sync.js'

export function removeCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('remove'))
    .description('drop requests (other lines and comments stay), then sync')
    .argument('<atom[::overlay]...>', 'which requests to drop')
    .option('--no-sync', 'only drop the lines')
    .addHelpText('after', '\nExamples:\n  olm remove sys-kernel/tt-kmd\n  olm remove dev-python/foo::guru')
    .action(async (args: string[], opts: { sync: boolean }, cmd: Command) => {
      const g = globalOptions(cmd)
      const { ctx, release } = await lockedContext(g, env, 'remove')
      try {
        const dropped = matchArguments(args, ctx.requests)
        const remaining = ctx.requests.filter((r) => !dropped.has(r))
        const write = async () => {
          const byFile = new Map<string, Set<number>>()
          for (const r of dropped) byFile.set(r.file, (byFile.get(r.file) ?? new Set()).add(r.line))
          const undo = await rememberFiles([...byFile.keys()])
          for (const [file, lines] of byFile) await dropLines(file, lines)
          return undo
        }
        if (!opts.sync) {
          if (!g.pretend) await write()
          for (const r of dropped) if (g.verbosity !== 'quiet') env.out(`${g.pretend ? 'would drop' : 'dropped'} ${r.raw} (${ctx.show(r.file)}:${r.line})`)
          return
        }
        env.exitCode = await syncAndReport(ctx, g, env, { command: 'remove', requests: remaining, beforePublish: write })
      } finally {
        await release()
      }
    })
}

/** A request is dropped when its package (and overlay and version, where the argument gives them) match. */
function matchArguments(args: string[], requests: Request[]): Set<Request> {
  const errors: OlmError[] = []
  const dropped = new Set<Request>()
  for (const arg of args) {
    const sep = arg.lastIndexOf('::')
    const overlay = sep >= 0 ? arg.slice(sep + 2) : undefined
    let atom: Atom
    try {
      atom = parseAtom(sep >= 0 ? arg.slice(0, sep) : arg)
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      errors.push(new OlmError('ATOM_SYNTAX', `"${arg}" is not a valid package atom: ${err.message}`))
      continue
    }
    const hits = requests.filter(
      (r) => r.cp === atomKey(atom) && (overlay === undefined || r.overlay === overlay) && (atom.op === '' || formatAtom(r.atom) === formatAtom(atom)),
    )
    if (!hits.length) errors.push(new OlmError('PACKAGE_NOT_FOUND', `no request matches "${arg}" (see olm list)`))
    for (const h of hits) dropped.add(h)
  }
  if (errors.length) throw new OlmErrors(errors)
  return dropped
}
