import { OlmError } from '../errors.js'
import { atomKey, atomMatches } from '../pms/atom.js'
import { cacheValue } from '../pms/md5cache.js'
import { mirrorNames } from '../pms/depend.js'
import { md5Hex } from '../pms/md5.js'
import type { Closure, ClosureItem, ClosurePackage } from './closure-types.js'
import type { ResolveInput } from './closure.js'

type Core = Omit<Closure, 'masks' | 'licenseGroups' | 'mirrors' | 'categories' | 'categoryMetadata' | 'masters'>

/**
 * Everything decided once the package set is known: shadowing conflicts,
 * masks (rule 5), license groups and mirrors (rule 7), categories (rule 8),
 * and the masters the generated repository must name.
 */
export async function finishClosure(core: Core, input: ResolveInput): Promise<Closure> {
  await checkEclassShadowing(core, input)
  await checkDuplicateItems(core.licenses, input, 'licenses', 'license')
  return {
    ...core,
    warnings: [...core.warnings, ...unmetThroughLeftOut(core.packages)],
    masks: await carriedMasks(core, input),
    licenseGroups: await carriedLicenseGroups(core, input),
    mirrors: await carriedMirrors(core, input),
    categories: [...new Set(core.packages.map((p) => p.category))].sort(),
    categoryMetadata: await carriedCategoryMetadata(core, input),
    masters: await extraMasters(core, input),
  }
}

/**
 * A pulled package whose every ebuild was left out (each said when it was) is
 * copied without one: the atoms it was pulled for counted as satisfied, yet
 * nothing will install them. Said once per package, with what needs it (seen
 * on a real overlay: a dozen packages of one chain needing an eclass the
 * local ::gentoo lacked).
 */
function unmetThroughLeftOut(packages: readonly ClosurePackage[]): string[] {
  const out: string[] = []
  for (const p of packages) {
    if (p.ebuilds.length > 0) continue
    const needs = p.reasons.flatMap((r) => (r.kind === 'dependency' ? [`${r.by} (${r.variable} ${r.atom})`] : []))
    if (needs.length) out.push(`${p.cp}::${p.overlay}, needed by ${needs.join(', ')}, has no usable ebuild: that dependency stays unmet`)
  }
  return out
}

/**
 * In one repository an eclass applies to every package in it. An eclass copied
 * from overlay A must not replace, for a package copied from overlay B, the
 * eclass of that name B's package was written against (B's own or a master's).
 */
async function checkEclassShadowing(core: Core, input: ResolveInput): Promise<void> {
  const copied = new Map<string, { item: ClosureItem; md5: string }>()
  for (const item of core.eclasses) {
    const md5 = (await input.overlays.get(item.overlay)!.eclassMd5s([item.name])).get(item.name)!
    const prior = copied.get(item.name)
    if (prior && prior.md5 !== md5)
      throw conflict(`eclass ${item.name} is needed from ::${prior.item.overlay} and from ::${item.overlay}, and they differ; one repository can hold one of them`, item.name)
    copied.set(item.name, { item, md5 })
  }
  for (const pkg of core.packages) {
    for (const { ebuild, metadata } of pkg.ebuilds) {
      for (const name of metadata.eclasses) {
        const c = copied.get(name)
        if (!c || c.item.overlay === pkg.overlay) continue
        // Asked only here: resolution asked for every name already (no new read), and most closures
        // come from one overlay, where a fresh array per package cost a lookup per name.
        const own = await input.overlays.get(pkg.overlay)!.eclassMd5s(metadata.eclasses)
        if (own.get(name) === c.md5) continue // the same file in both overlays
        const expected = own.has(name) ? `its own ::${pkg.overlay} ${name}.eclass` : `the master's ${name}.eclass`
        throw conflict(
          `${ebuild.category}/${ebuild.pn}-${ebuild.pvr}::${pkg.overlay} inherits ${name}, written against ${expected}, but ${name}.eclass from ::${c.item.overlay} would shadow it (needed by ${c.item.chain[0]})`,
          name,
        )
      }
    }
  }
}

async function checkDuplicateItems(items: ClosureItem[], input: ResolveInput, dir: string, what: string): Promise<void> {
  const seen = new Map<string, { overlay: string; md5: string }>()
  for (const item of items) {
    const bytes = await input.overlays.get(item.overlay)!.tree.readFile(`${dir}/${item.name}`)
    const md5 = md5Hex(bytes ?? '')
    const prior = seen.get(item.name)
    if (prior && prior.md5 !== md5)
      throw conflict(`${what} ${item.name} is needed from ::${prior.overlay} and from ::${item.overlay}, and the texts differ`, item.name)
    seen.set(item.name, { overlay: item.overlay, md5 })
  }
}

function conflict(message: string, name: string): OlmError {
  return new OlmError('CONFLICT', message, { package: name })
}

/** Rule 5: an overlay mask line is carried when it matches any copied ebuild of that overlay. */
async function carriedMasks(core: Core, input: ResolveInput): Promise<Closure['masks']> {
  const out: Closure['masks'] = []
  for (const [overlay, index] of input.overlays) {
    // By cp: a mask atom can only match ebuilds of its own category/package.
    const byCp = new Map<string, Core['packages']>()
    for (const p of core.packages) if (p.overlay === overlay) byCp.set(p.cp, [...(byCp.get(p.cp) ?? []), p])
    if (!byCp.size) continue
    for (const entry of await index.packageMask()) {
      if (entry.negated) continue
      const atom = { ...entry.atom, repo: undefined }
      const hit = (byCp.get(atomKey(atom)) ?? []).some((p) =>
        p.ebuilds.some(({ ebuild, metadata }) =>
          atomMatches(atom, { category: ebuild.category, pn: ebuild.pn, version: ebuild.version, slot: metadata.slot, subSlot: metadata.subSlot }),
        ),
      )
      if (hit) out.push({ overlay, entry })
    }
  }
  return out
}

/** Rule 7: group memberships of copied licenses that the overlay defines and the local tree lacks. */
async function carriedLicenseGroups(core: Core, input: ResolveInput): Promise<Closure['licenseGroups']> {
  const out: Closure['licenseGroups'] = []
  for (const [overlay, index] of input.overlays) {
    const copied = new Set(core.licenses.filter((l) => l.overlay === overlay).map((l) => l.name))
    if (!copied.size) continue
    for (const [group, members] of await index.licenseGroups()) {
      const carried = []
      for (const m of members) if (copied.has(m) && !(await input.local.licenseGroupHas(group, m))) carried.push(m)
      if (carried.length) out.push({ overlay, group, licenses: carried })
    }
  }
  return out
}

/** Rule 7: mirror:// names used by copied ebuilds, defined by the overlay and not by the local tree. */
async function carriedMirrors(core: Core, input: ResolveInput): Promise<Closure['mirrors']> {
  const out: Closure['mirrors'] = []
  const done = new Set<string>()
  // Ebuilds of a package mostly differ in version only: each SRC_URI text is parsed once.
  const names = new Map<string, string[]>()
  for (const pkg of core.packages) {
    const defs = await input.overlays.get(pkg.overlay)!.mirrors()
    for (const { metadata } of pkg.ebuilds) {
      const srcUri = cacheValue(metadata.entry, 'SRC_URI')
      let used = names.get(srcUri)
      if (!used) names.set(srcUri, (used = safeMirrorNames(srcUri)))
      for (const name of used) {
        const urls = defs.get(name)
        if (!urls || done.has(name) || (await input.local.hasMirror(name))) continue
        done.add(name)
        out.push({ overlay: pkg.overlay, name, urls })
      }
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name, 'en'))
}

function safeMirrorNames(srcUri: string): string[] {
  // Most name no mirror, and need no parse to say so (nor does a malformed one).
  if (!srcUri.includes('mirror://')) return []
  try {
    return mirrorNames(srcUri)
  } catch {
    return [...srcUri.matchAll(/mirror:\/\/([^/\s]+)\//g)].map((m) => m[1]!)
  }
}

async function carriedCategoryMetadata(core: Core, input: ResolveInput): Promise<Closure['categoryMetadata']> {
  const out: Closure['categoryMetadata'] = []
  const seen = new Set<string>()
  for (const p of core.packages) {
    if (seen.has(p.category)) continue
    seen.add(p.category)
    if (await input.local.hasCategoryMetadata(p.category)) continue
    const tree = input.overlays.get(p.overlay)!.tree
    if ((await tree.readFile(`${p.category}/metadata.xml`)) !== null) out.push({ category: p.category, overlay: p.overlay })
  }
  return out
}

/** Masters of the source overlays other than gentoo that the local tree has configured. */
async function extraMasters(core: Core, input: ResolveInput): Promise<string[]> {
  const out = new Set<string>()
  for (const overlay of new Set(core.packages.map((p) => p.overlay))) {
    const layout = await input.overlays.get(overlay)!.layout()
    for (const m of layout.masters ?? []) if (m !== 'gentoo' && input.local.repoNames.includes(m)) out.add(m)
  }
  return [...out].sort()
}
