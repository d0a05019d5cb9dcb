import type { Command } from 'commander'
import { listCachedOverlays } from '../../core/cached-overlays.js'
import { loadContext, loadRegistry } from '../../core/context.js'
import { searchTree } from '../../core/search.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions } from './shared.js'

export function searchCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('search'))
    .description('packages of cached overlays, and overlays of repositories.xml, whose name or description matches; enables nothing')
    .argument('<term>', 'text to look for (case-insensitive)')
    .addHelpText('after', '\nExamples:\n  olm search tenstorrent\n  olm search nim')
    .action(async (term: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      for (const cached of await listCachedOverlays(ctx.cacheDir)) {
        const tree = await cached.open()
        if (!tree) continue
        for (const hit of await searchTree(tree, term)) env.out(`${hit.cp}::${hit.overlay}\t${hit.description}`)
      }
      const want = term.toLowerCase()
      // The cached list only: a search must not wait on the network.
      const registry = await loadRegistry(ctx, { refresh: false })
      for (const repo of registry?.values() ?? [])
        if (repo.name.toLowerCase().includes(want) || repo.description.toLowerCase().includes(want)) env.out(`overlay ${repo.name}\t${repo.description}`)
    })
}
