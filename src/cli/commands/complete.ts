import type { Command } from 'commander'
import { OlmError } from '../../errors.js'
import { listCachedOverlays } from '../../core/cached-overlays.js'
import { type Context, loadContext, loadRegistry } from '../../core/context.js'
import { readProvenance } from '../../core/provenance.js'
import { listPackageDirs } from '../../core/search.js'
import { silentReporter } from '../../report.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions } from './shared.js'

type Lister = (ctx: Context) => Promise<string[]>

/** Candidates for shell completion, one per line; never touches the network. */
const LISTERS: Record<string, Lister> = {
  async overlays(ctx) {
    const registry = await loadRegistry(ctx, { refresh: false })
    return [...new Set([...ctx.userOverlays.keys(), ...(registry?.keys() ?? [])])].sort()
  },
  async packages(ctx) {
    const out: string[] = []
    for (const cached of await listCachedOverlays(ctx.cacheDir)) {
      const tree = await cached.open().catch(() => null)
      if (tree) for (const { category, pn } of await listPackageDirs(tree)) out.push(`${category}/${pn}::${cached.overlay}`)
    }
    return out.sort()
  },
  async requests(ctx) {
    return ctx.requests.map((r) => r.raw)
  },
  async names(ctx) {
    const prov = await readProvenance(ctx.location)
    if (!prov) return []
    return [...prov.packages.map((p) => p.package), ...prov.eclasses.map((e) => e.eclass), ...prov.licenses.map((l) => l.license)]
  },
}

export function completeCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('__complete', { hidden: true }))
    .description('candidates for shell completion')
    .argument('<kind>', Object.keys(LISTERS).join(', '))
    .action(async (kind: string, _opts: unknown, cmd: Command) => {
      const lister = LISTERS[kind]
      if (!lister) throw new OlmError('USAGE', `unknown completion kind "${kind}" (known: ${Object.keys(LISTERS).join(', ')})`)
      const g = globalOptions(cmd)
      let ctx: Context
      try {
        ctx = await loadContext(g.root, silentReporter)
      } catch {
        return // a broken config completes to nothing; olm itself will say why
      }
      for (const c of await lister(ctx)) env.out(c)
    })
}
