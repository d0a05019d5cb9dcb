import type { Command } from 'commander'
import { OlmError } from '../../errors.js'
import { loadContext, loadRegistry } from '../../core/context.js'
import { type Provenance, readProvenance } from '../../core/provenance.js'
import type { CliEnv } from '../env.js'
import { addGlobalOptions, globalOptions } from './shared.js'
import type { Context } from '../../core/context.js'
import { versions } from '../render/summary.js'

export function listCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('list'))
    .description('every package in the generated repository: requested or pulled, overlay, commit, versions, and what needs it')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  olm list\n  olm list --json | jq -r \'.packages[].package\'')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      const prov = await mustReadProvenance(ctx)
      if (opts.json) {
        env.out(JSON.stringify({ repository: ctx.show(ctx.location), ...prov }, null, 2))
        return
      }
      for (const p of prov.packages) {
        const how = p.requested ? 'requested' : `pulled by ${p.neededBy.join('; ')}`
        env.out(`${p.package}::${p.overlay} ${versions(p.versions)} @${p.commit.slice(0, 12)} (${how})`)
      }
      if (!prov.packages.length) env.out(`${ctx.show(ctx.location)} holds no packages`)
    })
}

/** What `why` names after the chain; the rest it counts: a base eclass of a large closure is inherited by hundreds of packages. */
const NEEDED_BY_SHOWN = 10

export function whyCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('why'))
    .description('the chain that brought a package, eclass or license into the repository')
    .argument('<name>', 'category/package, an eclass name or a license name')
    .addHelpText('after', '\nExamples:\n  olm why dev-python/requests\n  olm why linux-mod-r1\n  olm why Tenstorrent-EULA')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      const prov = await mustReadProvenance(ctx)
      const hits = [
        ...prov.packages.filter((p) => p.package === name).map((p) => ({ what: `${p.package}::${p.overlay}`, ...p })),
        ...prov.eclasses.filter((e) => e.eclass === name || `${e.eclass}.eclass` === name).map((e) => ({ what: `eclass ${e.eclass}::${e.overlay}`, ...e })),
        ...prov.licenses.filter((l) => l.license === name).map((l) => ({ what: `license ${l.license}::${l.overlay}`, ...l })),
      ]
      if (!hits.length) throw new OlmError('PACKAGE_NOT_FOUND', `${name} is not in ${ctx.show(ctx.location)} (olm list shows what is)`)
      for (const h of hits) {
        env.out(`${h.what} @${h.commit.slice(0, 12)}`)
        h.chain.forEach((step, i) => env.out(`${'  '.repeat(i + 1)}${i === 0 ? '' : '-> '}${step}`))
        const others = h.neededBy.slice(1)
        const more = others.length > NEEDED_BY_SHOWN ? `; and ${others.length - NEEDED_BY_SHOWN} more (olm list --json has them all)` : ''
        if (others.length) env.out(`  also needed by: ${others.slice(0, NEEDED_BY_SHOWN).join('; ')}${more}`)
      }
    })
}

export function overlaysCommand(program: Command, env: CliEnv): void {
  addGlobalOptions(program.command('overlays'))
    .description("known overlays: the user's (overlays.d) and Gentoo's repositories.xml")
    .argument('[pattern]', 'only names or descriptions containing this text')
    .addHelpText('after', '\nExamples:\n  olm overlays\n  olm overlays guru')
    .action(async (pattern: string | undefined, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd)
      const ctx = await loadContext(g.root, env.reporter(g))
      const want = (s: string) => !pattern || s.toLowerCase().includes(pattern.toLowerCase())
      for (const def of [...ctx.userOverlays.values()].sort((a, b) => a.name.localeCompare(b.name)))
        if (want(def.name)) env.out(`${def.name}\t${def.syncUri}\t(${ctx.show(def.file)}:${def.line})`)
      const registry = await loadRegistry(ctx, { refresh: !g.pretend })
      for (const repo of registry?.values() ?? []) {
        if (ctx.userOverlays.has(repo.name) || !(want(repo.name) || want(repo.description))) continue
        env.out(`${repo.name}\t${repo.description}`)
      }
    })
}

async function mustReadProvenance(ctx: Context): Promise<Provenance> {
  const prov = await readProvenance(ctx.location)
  if (!prov) throw new OlmError('FETCH_FAILED', `${ctx.show(ctx.location)} has not been generated yet (run olm sync)`)
  return prov
}
