import type { PackageChange } from '../../core/provenance.js'
import type { SyncResult } from '../../core/sync.js'

/** The lines a person reads after a sync: what changed, or that nothing did. */
export function syncSummary(r: SyncResult, location: string, pretend: boolean): string[] {
  const out: string[] = []
  const would = pretend ? 'would be ' : ''
  if (!r.repoChanged && !r.reposConfChanged) {
    const fetched = r.fetched.filter((f) => f.changed).length
    out.push(
      fetched === 0
        ? `nothing changed: overlays at the same commits, ${location} is up to date`
        : `overlays updated, but the packages olm copies did not change: ${location} is up to date`,
    )
    return out
  }
  for (const c of r.changes) out.push(describeChange(c))
  const o = r.outcome
  out.push(`${location} ${would}${pretend ? 'written' : 'updated'}: ${o.packages} packages (${o.requested} requested), ${o.eclasses} eclasses, ${o.licenses} licenses`)
  return out
}

function describeChange(c: PackageChange): string {
  switch (c.kind) {
    case 'new':
      return `  N ${c.package}::${c.overlay} ${versions(c.after)}`
    case 'updated':
      return `  U ${c.package}::${c.overlay} ${versions(c.before, false)} -> ${versions(c.after)}`
    case 'removed':
      return `  D ${c.package}::${c.overlay} ${versions(c.before, false)}`
  }
}

/**
 * A package whose every ebuild was left out (each said in a warning) is still
 * copied, without an ebuild: its line says so rather than end blank (seen on
 * a real overlay whose ebuilds need an eclass the local ::gentoo lacks).
 */
export const versions = (list: readonly string[], why = true) => (list.length ? list.join(' ') : why ? "(no usable ebuild: the sync's warnings say why)" : '(no usable ebuild)')

/** --pretend: the whole plan, file by file. */
export function planListing(r: SyncResult): string[] {
  return (r.plan?.entries ?? []).map((e) => (e.kind === 'symlink' ? `${e.relPath} -> ${e.target}` : `${e.relPath}${e.executable ? ' (executable)' : ''}`))
}
