import type { Command } from 'commander'
import { listCachedOverlays } from '../../core/cached-overlays.js'
import { loadContext } from '../../core/context.js'
import { readLastSync } from '../../core/last-sync.js'
import { readProvenance } from '../../core/provenance.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions } from './shared.js'

export function statusCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('status'))
    .alias('info')
    .description('the repository location, whether portage sees it, the overlays with their cached commit and age, and the last sync')
    .addHelpText('after', '\nExamples:\n  olm status\n  olm status --root /mnt/gentoo')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      const entry = ctx.reposConf.repos.get(ctx.settings.repoName)
      const registered = entry?.location === ctx.settings.location
      const prov = await readProvenance(ctx.location)
      env.out(`repository: ${ctx.settings.repoName} at ${ctx.settings.location}${prov ? `, ${prov.packages.length} packages` : ', not generated yet'}`)
      env.out(`registered in repos.conf: ${registered ? 'yes' : entry ? `no (its location is ${entry.location})` : 'no'}`)
      const wanted = new Set(ctx.requests.map((r) => r.overlay))
      const now = ctx.now().getTime()
      for (const cached of await listCachedOverlays(ctx.cacheDir)) {
        const tree = await cached.open().catch(() => null)
        const age = Math.round((now - cached.mtime.getTime()) / 3_600_000)
        env.out(`overlay ${cached.overlay} (${cached.kind}): ${tree ? `at ${tree.commit.slice(0, 12)}` : 'no usable cache'}, changed ${age} h ago${wanted.has(cached.overlay) ? '' : ', no longer requested'}`)
      }
      const last = await readLastSync(ctx.cacheDir)
      env.out(last ? `last sync: ${last.finished}, olm ${last.command}, exit ${last.exitCode}${last.message ? `: ${last.message}` : ''}` : 'last sync: never')
    })
}
