import path from 'node:path'
import { type Atom, atomMatches, formatAtom } from '../pms/atom.js'
import { parseCacheEntry, cacheValue } from '../pms/md5cache.js'
import { parseEbuildFileName } from '../pms/names.js'
import { parseCategories, parseLicenseGroups, parseThirdPartyMirrors } from '../pms/profiles.js'
import type { Version } from '../pms/version.js'
import { once } from '../util/once.js'
import { type LocalReadLog, exists, listDir, readOr } from './local-reads.js'

/** One version of a package in a local repository. */
export interface LocalVersion {
  version: Version
  pvr: string
  fileName: string
}

interface LocalSlot {
  /** undefined when the slot could not be read without evaluating the ebuild. */
  slot?: string
  subSlot?: string
}

/**
 * The repositories the system already has (the "local tree" of the contract),
 * read lazily: resolving a handful of packages must not walk all of ::gentoo.
 */
export interface LocalTree {
  readonly repoNames: string[]
  satisfies(atom: Atom): Promise<boolean>
  hasEclass(name: string): Promise<boolean>
  hasLicense(name: string): Promise<boolean>
  hasCategory(name: string): Promise<boolean>
  hasCategoryMetadata(name: string): Promise<boolean>
  licenseGroupHas(group: string, license: string): Promise<boolean>
  hasMirror(name: string): Promise<boolean>
}

export interface LocalRepoLocation {
  name: string
  /** host path (already under --root) */
  dir: string
}

/** With `log`, every read of the repositories is logged (see LocalReadLog). */
export function openLocalTree(repos: LocalRepoLocation[], log?: LocalReadLog): LocalTree {
  const opened = repos.map((r) => openLocalRepo(r, log))
  const any = async (pred: (r: LocalRepo) => Promise<boolean>) => {
    for (const r of opened) if (await pred(r)) return true
    return false
  }
  // One answer per atom: a closure asks the same few hundred atoms for thousands of
  // ebuilds, and each asking cost promises and copies (65 MB of a 1,157-package resolve).
  const answers = new Map<string, Promise<boolean>>()
  return {
    repoNames: repos.map((r) => r.name),
    satisfies: (atom) => {
      const key = formatAtom(atom)
      let answer = answers.get(key)
      if (!answer) answers.set(key, (answer = any((r) => repoSatisfies(r, atom, log))))
      return answer
    },
    hasEclass: (name) => any(async (r) => (await r.eclasses()).has(name)),
    hasLicense: (name) => any(async (r) => (await r.licenses()).has(name)),
    hasCategory: (name) => any(async (r) => (await r.categories()).has(name)),
    hasCategoryMetadata: (name) => any((r) => exists(path.join(r.dir, name, 'metadata.xml'), log)),
    licenseGroupHas: (group, license) => any(async (r) => (await r.licenseGroups()).get(group)?.includes(license) ?? false),
    hasMirror: (name) => any(async (r) => (await r.mirrors()).has(name)),
  }
}

/** Slots are read only for versions that already match and only when the atom names a slot. */
async function repoSatisfies(r: LocalRepo, atom: Atom, log: LocalReadLog | undefined): Promise<boolean> {
  for (const v of await r.versions(atom.category, atom.pn)) {
    const base = { category: atom.category, pn: atom.pn, version: v.version, repo: r.name }
    if (!atomMatches({ ...atom, slot: undefined, subSlot: undefined }, base)) continue
    if (atom.slot === undefined) return true
    const { slot, subSlot } = await readSlot(r.dir, atom.category, atom.pn, v.pvr, v.fileName, log)
    // A computed SLOT (unknown without evaluating the ebuild) counts as matching.
    if (slot === undefined || atomMatches(atom, { ...base, slot, subSlot })) return true
  }
  return false
}

interface LocalRepo {
  name: string
  dir: string
  versions(category: string, pn: string): Promise<LocalVersion[]>
  eclasses(): Promise<Set<string>>
  licenses(): Promise<Set<string>>
  categories(): Promise<Set<string>>
  licenseGroups(): Promise<Map<string, string[]>>
  mirrors(): Promise<Map<string, string[]>>
}

function openLocalRepo({ name, dir }: LocalRepoLocation, log: LocalReadLog | undefined): LocalRepo {
  const versionCache = new Map<string, Promise<LocalVersion[]>>()
  // One listing of the repository root answers most lookups of an overlay's own categories without a failed readdir each.
  const topLevel = once(async () => new Set(await listDir(dir, log)))
  return {
    name,
    dir,
    versions(category, pn) {
      const key = `${category}/${pn}`
      let p = versionCache.get(key)
      if (!p) versionCache.set(key, (p = topLevel().then((top) => (top.has(category) ? readVersions(dir, category, pn, log) : []))))
      return p
    },
    eclasses: once(async () => new Set((await listDir(path.join(dir, 'eclass'), log)).filter((n) => n.endsWith('.eclass')).map((n) => n.slice(0, -7)))),
    licenses: once(async () => new Set(await listDir(path.join(dir, 'licenses'), log))),
    categories: once(async () => new Set(lenient(parseCategories, await readOr(path.join(dir, 'profiles/categories'), log), []))),
    licenseGroups: once(async () => lenient(parseLicenseGroups, await readOr(path.join(dir, 'profiles/license_groups'), log), new Map())),
    mirrors: once(async () => lenient(parseThirdPartyMirrors, await readOr(path.join(dir, 'profiles/thirdpartymirrors'), log), new Map())),
  }
}

/**
 * The system's own repositories are not olm's to judge: a line portage would
 * skip must not stop a sync, so a file that fails the strict parser counts as
 * empty rather than aborting.
 */
function lenient<T>(parse: (text: string) => T, text: string | null, empty: T): T {
  if (text === null) return empty
  try {
    return parse(text)
  } catch {
    return empty
  }
}

async function readVersions(dir: string, category: string, pn: string, log: LocalReadLog | undefined): Promise<LocalVersion[]> {
  const pkgDir = path.join(dir, category, pn)
  const out: LocalVersion[] = []
  for (const fileName of await listDir(pkgDir, log)) {
    const parsed = parseEbuildFileName(pn, fileName)
    if (parsed) out.push({ version: parsed.version, pvr: parsed.pvr, fileName })
  }
  return out
}

/**
 * SLOT of a local ebuild without evaluating it: from the repository's md5-cache
 * when present, else a literal `SLOT=` assignment. A computed SLOT stays
 * unknown, and an unknown slot matches any slot dependency.
 */
async function readSlot(dir: string, category: string, pn: string, pvr: string, fileName: string, log: LocalReadLog | undefined): Promise<LocalSlot> {
  const cacheText = await readOr(path.join(dir, 'metadata/md5-cache', category, `${pn}-${pvr}`), log)
  let raw: string | undefined
  if (cacheText !== null) {
    try {
      raw = cacheValue(parseCacheEntry(cacheText), 'SLOT') || undefined
    } catch {
      raw = undefined // a corrupt cache entry of someone else's repo: fall back to the ebuild
    }
  }
  if (raw === undefined) {
    const ebuild = (await readOr(path.join(dir, category, pn, fileName), log)) ?? ''
    const m = /^[ \t]*SLOT=(["']?)([A-Za-z0-9+_.\-/]+)\1[ \t]*(?:#.*)?$/m.exec(ebuild)
    raw = m?.[2]
  }
  if (raw === undefined) return {}
  const [slot, subSlot] = raw.split('/')
  return { slot, subSlot: subSlot ?? slot }
}

