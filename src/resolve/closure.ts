import type { Request } from '../config/requests.js'
import { OlmError } from '../errors.js'
import type { LocalTree } from '../local/local-tree.js'
import { type Atom, atomKey, atomMatches, formatAtom } from '../pms/atom.js'
import { type DepNode, formatDepend, licenseNames, parseDepend, walkAtoms } from '../pms/depend.js'
import { cacheValue } from '../pms/md5cache.js'
import { isValidEclassName, isValidLicenseName } from '../pms/names.js'
import { compareVersions } from '../pms/version.js'
import type { Closure, ClosureItem, ClosurePackage, Reason } from './closure-types.js'
import { finishClosure } from './closure-extras.js'
import type { EbuildMetadata, OverlayEbuild, OverlayIndex } from './overlay-index.js'

/** The dependency variables whose atoms count, under any USE condition (contract rule 4). */
export const DEP_VARS = ['DEPEND', 'RDEPEND', 'BDEPEND', 'PDEPEND', 'IDEPEND'] as const

export interface ResolveInput {
  requests: Request[]
  overlays: ReadonlyMap<string, OverlayIndex>
  local: LocalTree
  /** how a config file's path is shown in chains (as seen inside --root). */
  displayPath?: (file: string) => string
}

/**
 * Builds the closure of contract rules 1–8, breadth-first from the requests
 * in their fixed order, so the same input always gives the same result.
 * Request problems (package missing, no matching version) throw OlmError
 * before anything is decided.
 */
export async function resolveClosure(input: ResolveInput): Promise<Closure> {
  const state = new ResolverState(input)
  for (const request of input.requests) await state.addRequest(request)
  await state.drain()
  return finishClosure(state.result(), input)
}

interface PackageState {
  pkg: ClosurePackage
  index: OverlayIndex
  /** null = every ebuild (pulled, or requested without narrowing) */
  filter: Atom[] | null
  processed: Set<string>
}

class ResolverState {
  private readonly packages = new Map<string, PackageState>()
  /** The same states by cp, in the order they were added: lookups by atom must not scan the whole closure. */
  private readonly byCp = new Map<string, PackageState[]>()
  private readonly order: string[] = []
  private readonly queue: string[] = []
  private readonly queued = new Set<string>()
  private readonly eclasses = new Map<string, ClosureItem>()
  private readonly licenses = new Map<string, ClosureItem>()
  private readonly unsatisfied = new Map<string, string[]>()
  private readonly warnings: string[] = []
  /**
   * Dependency values parsed once: ebuilds of a package, and DEPEND and
   * RDEPEND of one ebuild, mostly say the same (the bench's 1,157-package
   * closure: 12,028 values, 1,364 different). Shared trees share their atoms.
   */
  private readonly parsedValues = new Map<string, DepNode[] | OlmError>()
  /**
   * Atoms a dependency found satisfied, by identity (see parsedValues). What
   * the local tree has and what is pulled only ever grow, so they stay
   * satisfied; an unsatisfied one is asked again (something pulled later may
   * satisfy it).
   */
  private readonly satisfiedAtoms = new Set<Atom>()
  /** Parsed values whose every need is satisfied (see settled): requiring them again changes nothing. */
  private readonly settledValues = new Set<DepNode[]>()
  private readonly localLicenses = new Map<string, Promise<boolean>>()
  private readonly localAnswers = new Map<Atom, Promise<boolean>>()
  /** See atomsOf. */
  private readonly valueAtoms = new Map<DepNode[], Atom[]>()
  /** License names by LICENSE value: ebuilds of a closure name few different ones. */
  private readonly licenseValues = new Map<string, string[]>()
  /** The eclasses and licenses again, by "kind overlay" then name (see addItem). */
  private readonly itemsByOverlay = new Map<string, Map<string, ClosureItem>>()
  private readonly unusableEclasses = new Map<string, Promise<string | null>>()

  constructor(private readonly input: ResolveInput) {}

  async addRequest(r: Request): Promise<void> {
    const index = this.input.overlays.get(r.overlay)
    if (!index) throw new Error(`overlay ${r.overlay} was not opened`)
    const all = await index.ebuilds(r.atom.category, r.atom.pn)
    const where = { file: r.file, line: r.line, overlay: r.overlay, package: r.cp }
    if (all.length === 0)
      throw new OlmError('PACKAGE_NOT_FOUND', `${r.cp} is not in ::${r.overlay} (requested as "${r.raw}")`, where)
    if (r.narrowed && !(await this.anyMatch(index, all, r.atom)))
      throw new OlmError('PACKAGE_NOT_FOUND', `no ebuild of ${r.cp} in ::${r.overlay} matches "${r.raw}"`, where)
    const reason: Reason = { kind: 'requested', request: r }
    const shown = this.input.displayPath?.(r.file) ?? r.file
    const chain = [`${r.raw} (${shown}:${r.line})`]
    this.enqueue(index, r.cp, reason, chain, r.narrowed ? r.atom : null, true)
  }

  async drain(): Promise<void> {
    for (let i = 0; i < this.queue.length; i++) {
      const key = this.queue[i]!
      this.queued.delete(key)
      await this.processPackage(this.packages.get(key)!)
    }
    this.queue.length = 0
  }

  result(): Omit<Closure, 'masks' | 'licenseGroups' | 'mirrors' | 'categories' | 'categoryMetadata' | 'masters'> {
    const packages = this.order.map((k) => this.packages.get(k)!.pkg)
    for (const p of packages) p.ebuilds.sort((a, b) => compareVersions(a.ebuild.version, b.ebuild.version))
    return {
      packages,
      eclasses: [...this.eclasses.values()],
      licenses: [...this.licenses.values()],
      unsatisfied: [...this.unsatisfied].map(([atom, chain]) => ({ atom, chain })),
      warnings: this.warnings,
    }
  }

  private enqueue(index: OverlayIndex, cp: string, reason: Reason, chain: string[], narrow: Atom | null, requested: boolean): void {
    const key = `${cp}::${index.overlay}`
    let state = this.packages.get(key)
    if (!state) this.refuseSecondOverlay(cp, index.overlay, chain)
    if (!state) {
      const [category, pn] = cp.split('/') as [string, string]
      const pkg: ClosurePackage = { cp, category, pn, overlay: index.overlay, commit: index.tree.commit, requested, ebuilds: [], reasons: [], chain }
      state = { pkg, index, filter: narrow ? [] : null, processed: new Set() }
      this.packages.set(key, state)
      const sameCp = this.byCp.get(cp)
      if (sameCp) sameCp.push(state)
      else this.byCp.set(cp, [state])
      this.order.push(key)
      this.schedule(key)
    } else {
      this.schedule(key) // a widened filter or a new narrowed line: pick up more ebuilds
    }
    state.pkg.reasons.push(reason)
    state.pkg.requested ||= requested
    if (narrow === null) state.filter = null
    else if (state.filter) state.filter.push(narrow)
  }

  private schedule(key: string): void {
    if (this.queued.has(key)) return
    this.queued.add(key)
    this.queue.push(key)
  }

  /** One package directory can hold one overlay's package: a second source is a conflict (exit 2). */
  private refuseSecondOverlay(cp: string, overlay: string, chain: string[]): void {
    for (const other of this.byCp.get(cp) ?? []) {
      if (other.pkg.overlay === overlay) continue
      throw new OlmError(
        'CONFLICT',
        `${cp} is needed from ::${overlay} (${chain.join(' -> ')}) but already comes from ::${other.pkg.overlay} (${other.pkg.chain.join(' -> ')}), whose versions do not match; a package can come from one overlay only`,
        { package: cp, overlay },
      )
    }
  }

  private async processPackage(state: PackageState): Promise<void> {
    const { index, pkg } = state
    for (const ebuild of await index.ebuilds(pkg.category, pkg.pn)) {
      if (state.processed.has(ebuild.relPath)) continue
      const metadata = await this.metadataOrSkip(index, ebuild)
      if (!metadata) continue
      if (state.filter && !state.filter.some((a) => matchesEbuild(a, ebuild, metadata))) continue
      state.processed.add(ebuild.relPath)
      pkg.ebuilds.push({ ebuild, metadata })
      await this.processEbuild(state, ebuild, metadata)
    }
  }

  private async processEbuild(state: PackageState, ebuild: OverlayEbuild, md: EbuildMetadata): Promise<void> {
    const { index, pkg } = state
    const cpv = `${pkg.category}/${pkg.pn}-${ebuild.pvr}`
    const ownEclasses = await index.eclassMd5s(md.eclasses)
    for (const name of md.eclasses) {
      if (ownEclasses.has(name)) this.addItem('inherit', name, index, pkg, cpv)
      else await this.checkUnusableEclass(index, name, cpv)
    }
    const ownLicenses = await index.licenses()
    for (const name of this.licensesOf(cacheValue(md.entry, 'LICENSE'), `${cpv}::${index.overlay}`)) {
      if (await this.localHasLicense(name)) continue
      if (ownLicenses.has(name)) this.addItem('license', name, index, pkg, cpv)
      else this.warnings.push(`license ${name} of ${cpv}::${index.overlay} is in neither the overlay nor the local tree`)
    }
    const parsed: [variable: string, nodes: DepNode[]][] = []
    for (const variable of DEP_VARS) {
      const value = cacheValue(md.entry, variable)
      if (!value) continue
      const nodes = this.parseValue(value)
      if (nodes instanceof OlmError) this.warnings.push(`${variable} of ${cpv}::${index.overlay} is malformed (${nodes.message}); its dependencies are skipped`)
      else if (!this.settledValues.has(nodes)) parsed.push([variable, nodes])
    }
    // The local tree is read on disk: its answers for every atom are asked at
    // once, so the reads overlap; the decisions below still go one by one.
    for (const [, nodes] of parsed)
      for (const atom of this.atomsOf(nodes)) if (!this.satisfiedAtoms.has(atom)) void this.localSatisfies(atom).catch(() => {})
    for (const [variable, nodes] of parsed) {
      const ctx = { index, cpv, variable, chain: pkg.chain }
      for (const node of nodes) await this.require(node, ctx)
      if (nodes.every((n) => this.settled(n))) this.settledValues.add(nodes)
    }
  }

  private parseValue(value: string): DepNode[] | OlmError {
    let parsed = this.parsedValues.get(value)
    if (!parsed) {
      try {
        parsed = parseDepend(value, 'depend')
      } catch (err) {
        if (!(err instanceof OlmError)) throw err
        parsed = err
      }
      this.parsedValues.set(value, parsed)
    }
    return parsed
  }

  /** The atoms of a parsed value, blockers left out; once per value (they are shared, see parsedValues). */
  private atomsOf(nodes: DepNode[]): Atom[] {
    let atoms = this.valueAtoms.get(nodes)
    if (!atoms) this.valueAtoms.set(nodes, (atoms = [...walkAtoms(nodes)].filter((a) => !a.blocker)))
    return atoms
  }

  /** The local tree's answer for an atom, by identity: the tree's own cache is by text, formatted on every call. */
  private localSatisfies(atom: Atom): Promise<boolean> {
    let answer = this.localAnswers.get(atom)
    if (!answer) this.localAnswers.set(atom, (answer = this.input.local.satisfies(atom)))
    return answer
  }

  private localHasLicense(name: string): Promise<boolean> {
    let answer = this.localLicenses.get(name)
    if (!answer) this.localLicenses.set(name, (answer = this.input.local.hasLicense(name)))
    return answer
  }

  /** License names of a LICENSE value; a malformed one is said, and its valid names still count. */
  private licensesOf(license: string, where: string): string[] {
    const known = this.licenseValues.get(license)
    if (known) return known
    try {
      const names = licenseNames(license)
      this.licenseValues.set(license, names)
      return names
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      this.warnings.push(`LICENSE of ${where} is malformed (${err.message}); only its valid license names are used`)
      return license.split(/\s+/).filter((t) => isValidLicenseName(t))
    }
  }

  /**
   * An eclass the overlay has in a form olm never copies (a symlink, a
   * device) or under a name no eclass may have is said, not skipped silently:
   * the package would then get the master's eclass of that name, or none.
   */
  private async checkUnusableEclass(index: OverlayIndex, name: string, cpv: string): Promise<void> {
    const key = `${name}::${index.overlay}`
    let found = this.unusableEclasses.get(key)
    if (!found) this.unusableEclasses.set(key, (found = unusableEclass(index, name)))
    const problem = await found
    if (problem) {
      const message = `${cpv}::${index.overlay} ${problem}; the masters' eclass of that name, if any, will be used`
      if (!this.warnings.includes(message)) this.warnings.push(message)
    }
  }

  /** Pulls what a dependency node needs (contract rule 4). */
  private async require(node: DepNode, ctx: DepContext): Promise<void> {
    switch (node.kind) {
      case 'atom':
        if (node.atom.blocker) return
        return this.requireAtom(node.atom, ctx)
      case 'all-of':
      case 'use-if':
        for (const child of node.children) await this.require(child, ctx)
        return
      case 'any-of':
        return this.requireAnyOf(node.children, ctx)
      default:
        return // leaf / exactly-one / at-most-one do not occur in dependency variables
    }
  }

  private async requireAtom(atom: Atom, ctx: DepContext): Promise<void> {
    if (this.satisfiedAtoms.has(atom)) return
    if ((await this.localSatisfies(atom)) || (await this.pulledSatisfying(atom, true))) {
      this.satisfiedAtoms.add(atom)
      return
    }
    const text = formatAtom(atom)
    if (await this.overlayCanSatisfy(ctx.index, atom)) {
      const step = `${ctx.cpv} ${ctx.variable} ${text}`
      this.enqueue(ctx.index, atomKey(atom), { kind: 'dependency', by: ctx.cpv, variable: ctx.variable, atom: text }, [...ctx.chain, step], null, false)
      return
    }
    if (!this.unsatisfied.has(text)) this.unsatisfied.set(text, [...ctx.chain, `${ctx.cpv} ${ctx.variable} ${text}`])
  }

  private async requireAnyOf(children: DepNode[], ctx: DepContext): Promise<void> {
    for (const child of children) if (await this.isSatisfied(child)) return
    for (const child of children) {
      if (await this.canSatisfy(child, ctx.index)) return this.require(child, ctx)
    }
    const text = `|| ( ${formatDepend(children)} )`
    if (!this.unsatisfied.has(text)) this.unsatisfied.set(text, [...ctx.chain, `${ctx.cpv} ${ctx.variable} ${text}`])
  }

  /**
   * Whether requiring the node again could change nothing: its atoms were
   * found satisfied (which they stay), or are blockers; an any-of has such a
   * child, and the children before it are only asked (isSatisfied has no effect).
   */
  private settled(node: DepNode): boolean {
    switch (node.kind) {
      case 'atom':
        return !!node.atom.blocker || this.satisfiedAtoms.has(node.atom)
      case 'all-of':
      case 'use-if':
        return node.children.every((c) => this.settled(c))
      case 'any-of':
        return node.children.some((c) => this.settled(c))
      default:
        return true
    }
  }

  /** Satisfied by the local tree or by what is already pulled. */
  private async isSatisfied(node: DepNode): Promise<boolean> {
    switch (node.kind) {
      case 'atom': {
        if (node.atom.blocker || this.satisfiedAtoms.has(node.atom)) return true
        const pulled = (await this.localSatisfies(node.atom)) ? null : await this.pulledSatisfying(node.atom, false)
        if (pulled === false) return false
        // Satisfied for good, unless by a narrowed package that requiring the atom would widen.
        if (pulled === null || pulled.filter === null) this.satisfiedAtoms.add(node.atom)
        return true
      }
      case 'all-of':
      case 'use-if':
        for (const c of node.children) if (!(await this.isSatisfied(c))) return false
        return true
      case 'any-of':
        for (const c of node.children) if (await this.isSatisfied(c)) return true
        return node.children.length === 0
      default:
        return true
    }
  }

  /** Satisfiable by the local tree, what is pulled, or the overlay. */
  private async canSatisfy(node: DepNode, index: OverlayIndex): Promise<boolean> {
    switch (node.kind) {
      case 'atom':
        return (await this.isSatisfied(node)) || (await this.overlayCanSatisfy(index, node.atom))
      case 'all-of':
      case 'use-if':
        for (const c of node.children) if (!(await this.canSatisfy(c, index))) return false
        return true
      case 'any-of':
        for (const c of node.children) if (await this.canSatisfy(c, index)) return true
        return false
      default:
        return true
    }
  }

  /**
   * A package already in the closure (from any overlay) with an ebuild that
   * matches, false for none. With `widen`, a narrowed request that a dependency needs whole
   * is widened: dependencies are always copied whole.
   */
  private async pulledSatisfying(atom: Atom, widen: boolean): Promise<PackageState | false> {
    for (const state of this.byCp.get(atomKey(atom)) ?? []) {
      const all = await state.index.ebuilds(state.pkg.category, state.pkg.pn)
      if (!(await this.anyMatch(state.index, all, atom))) continue
      if (widen && state.filter) {
        state.filter = null
        this.schedule(`${state.pkg.cp}::${state.index.overlay}`)
      }
      return state
    }
    return false
  }

  private async overlayCanSatisfy(index: OverlayIndex, atom: Atom): Promise<boolean> {
    return this.anyMatch(index, await index.ebuilds(atom.category, atom.pn), atom)
  }

  private async anyMatch(index: OverlayIndex, ebuilds: OverlayEbuild[], atom: Atom): Promise<boolean> {
    for (const e of ebuilds) {
      // Metadata (for the slot) is only read when the atom names a slot.
      const md = atom.slot !== undefined ? await this.metadataOrSkip(index, e) : undefined
      if (md === null) continue
      if (matchesEbuild(atom, e, md)) return true
    }
    return false
  }

  /**
   * An ebuild whose metadata cannot be had (a broken cache entry, an ebuild
   * that dies, hangs or misbehaves when sourced) is left out with a warning
   * naming it, as portage leaves out an invalid ebuild; the others go on.
   */
  private async metadataOrSkip(index: OverlayIndex, ebuild: OverlayEbuild): Promise<EbuildMetadata | null> {
    try {
      return await index.metadata(ebuild)
    } catch (err) {
      if (!(err instanceof OlmError) || err.code !== 'METADATA_INVALID') throw err
      const message = `${ebuild.category}/${ebuild.pn}-${ebuild.pvr}::${index.overlay} is left out: ${err.message}`
      if (!this.warnings.includes(message)) this.warnings.push(message)
      return null
    }
  }

  /**
   * An eclass the package inherits or a license it names. A package's ebuilds come one after another,
   * and its reason is kept once (an eclass of the bench's 1,157-package closure had up to 3,500
   * reasons, one per ebuild: 41,000 in all, 2 of the 3.5 MB of the provenance file); a package
   * processed again when widened may add it twice, which provenance merges. Asked ~40,000 times
   * there: nothing is made for an item already seen, not even its key.
   */
  private addItem(kind: 'inherit' | 'license', name: string, index: OverlayIndex, pkg: ClosurePackage, cpv: string): void {
    let items = this.itemsByOverlay.get(`${kind} ${index.overlay}`)
    if (!items) this.itemsByOverlay.set(`${kind} ${index.overlay}`, (items = new Map()))
    const item = items.get(name)
    if (item) {
      if ((item.reasons[item.reasons.length - 1] as { by: string }).by !== pkg.cp) item.reasons.push({ kind, by: pkg.cp })
      return
    }
    const step = kind === 'inherit' ? `${cpv} inherits ${name}` : `${cpv} LICENSE ${name}`
    const added: ClosureItem = { name, overlay: index.overlay, commit: index.tree.commit, reasons: [{ kind, by: pkg.cp }], chain: [...pkg.chain, step] }
    items.set(name, added)
    ;(kind === 'inherit' ? this.eclasses : this.licenses).set(`${name}::${index.overlay}`, added)
  }
}

/** Why the overlay's eclass of that name cannot be used, null when nothing is wrong (it is a master's). */
async function unusableEclass(index: OverlayIndex, name: string): Promise<string | null> {
  if (!isValidEclassName(name)) return `inherits "${name}", which is not a valid eclass name`
  if ((await index.tree.readLink(`eclass/${name}.eclass`)) !== null) return `inherits ${name}, whose eclass/${name}.eclass is a symlink olm does not copy`
  return null
}

interface DepContext {
  index: OverlayIndex
  cpv: string
  variable: string
  chain: string[]
}

function matchesEbuild(atom: Atom, e: OverlayEbuild, md?: EbuildMetadata): boolean {
  return atomMatches(atom, { category: e.category, pn: e.pn, version: e.version, slot: md?.slot, subSlot: md?.subSlot })
}

