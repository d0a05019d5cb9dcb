import { OlmError } from '../errors.js'
import { linkChain, type OverlayTree, readText } from '../overlay/tree.js'
import { parseLayoutConf, type LayoutConf } from '../pms/layoutconf.js'
import { type CacheEntry, cacheValue, eclassesHold, isCacheEntryValid, parseCacheEntry } from '../pms/md5cache.js'
import { md5Hex } from '../pms/md5.js'
import { parseEbuildFileName, isValidCategory, isValidPackageName } from '../pms/names.js'
import { type MaskEntry, parseCategories, parseLicenseGroups, parsePackageMask, parseThirdPartyMirrors } from '../pms/profiles.js'
import type { Version } from '../pms/version.js'
import { once } from '../util/once.js'
import { eclassesText, eclassPairs, type MemoEntry, MetadataMemo } from './metadata-memo.js'

/** One ebuild of an overlay. */
export interface OverlayEbuild {
  overlay: string
  category: string
  pn: string
  pvr: string
  version: Version
  /** "cat/pn/pn-1.0.ebuild" */
  relPath: string
  /**
   * For an ebuild that is a symlink (an overlay may make a release a link to
   * its live ebuild): the file it leads to in its package directory, whose
   * bytes portage reads as this ebuild. Absent for a regular file.
   */
  source?: string
}

/** What the resolver needs of an ebuild's metadata (the md5-cache keys it reads). */
export interface EbuildMetadata {
  /** evaluated: the whole entry, written as the repository's cache entry; from the overlay's md5-cache: only the keys resolution reads */
  entry: CacheEntry
  /** where the metadata came from: the overlay's own cache, or evaluating the ebuild. */
  origin: 'md5-cache' | 'evaluated'
  slot: string
  subSlot: string
  /** every eclass inherited, directly or not (from _eclasses_). */
  eclasses: string[]
}

/**
 * Computes the metadata of an ebuild that has no valid md5-cache entry
 * (the depend phase). Absent until olm can evaluate ebuilds.
 */
export type MetadataEvaluator = (index: OverlayIndex, ebuild: OverlayEbuild) => Promise<CacheEntry>

/**
 * An overlay at one commit, indexed for resolution: profiles data, eclasses
 * with their md5s, licenses, and per-package ebuilds with metadata. Reads go
 * through OverlayTree and are memoized.
 */
export interface OverlayIndex {
  readonly overlay: string
  readonly tree: OverlayTree
  layout(): Promise<LayoutConf>
  /**
   * md5s of the overlay's eclasses of these names (an eclass file it ships: a symlink or a name
   * its eclass/ lacks has none). Each is read when first asked for, so what a resolution read of
   * eclass/ is what it used. The map answers for the names asked, and any asked before.
   */
  eclassMd5s(names: Iterable<string>): Promise<ReadonlyMap<string, string>>
  licenses(): Promise<ReadonlySet<string>>
  categories(): Promise<ReadonlySet<string>>
  packageMask(): Promise<MaskEntry[]>
  licenseGroups(): Promise<Map<string, string[]>>
  mirrors(): Promise<Map<string, string[]>>
  hasCacheDir(): Promise<boolean>
  /** ebuilds of cat/pn sorted by version, [] when the overlay lacks the package. */
  ebuilds(category: string, pn: string): Promise<OverlayEbuild[]>
  metadata(ebuild: OverlayEbuild): Promise<EbuildMetadata>
}

export function createOverlayIndex(tree: OverlayTree, evaluate?: MetadataEvaluator, memo?: MetadataMemo): OverlayIndex {
  const ebuildCache = new Map<string, Promise<OverlayEbuild[]>>()
  const metaCache = new Map<string, Promise<EbuildMetadata>>()
  const remembered = memo ? { memo, eclassSets: new Map<string, EclassSet>() } : undefined
  const where = (rel: string) => ({ file: `${rel} in ::${tree.overlay}`, overlay: tree.overlay })
  const profileFile = <T>(rel: string, parse: (text: string, file: string) => T) =>
    once(async () => parse((await readText(tree, rel)) ?? '', `${tree.overlay}:${rel}`))
  // The eclass files eclass/ lists, and the md5s of those asked for (see eclassMd5s). Read all at
  // once, an upstream edit of an eclass no considered ebuild inherits made the next sync resolve again.
  const shippedEclasses = once(async () => new Set(((await tree.readDir('eclass')) ?? []).filter((e) => e.type === 'file' && e.name.endsWith('.eclass')).map((e) => e.name.slice(0, -'.eclass'.length))))
  const eclassMd5 = new Map<string, string>()
  const eclassReads = new Map<string, Promise<void>>()
  const eclassesAsked = new WeakSet<Iterable<string>>()

  const index: OverlayIndex = {
    overlay: tree.overlay,
    tree,
    layout: profileFile('metadata/layout.conf', parseLayoutConf),
    async eclassMd5s(names) {
      // The same arrays come back for every ebuild of a chain (the memo's eclass sets): looked at once.
      if (eclassesAsked.has(names)) return eclassMd5
      const ships = await shippedEclasses()
      for (const name of names) {
        // Only names the listing has: a name from an md5-cache entry is the overlay's text, not a path.
        if (eclassMd5.has(name) || !ships.has(name)) continue
        let reading = eclassReads.get(name)
        if (!reading) eclassReads.set(name, (reading = tree.readFile(`eclass/${name}.eclass`).then((bytes) => void (bytes && eclassMd5.set(name, md5Hex(bytes))))))
        await reading
      }
      if (Array.isArray(names)) eclassesAsked.add(names)
      return eclassMd5
    },
    licenses: once(async () => new Set(((await tree.readDir('licenses')) ?? []).filter((e) => e.type === 'file').map((e) => e.name))),
    categories: profileFile('profiles/categories', (t, f) => new Set(parseCategories(t, f))),
    packageMask: profileFile('profiles/package.mask', parsePackageMask),
    licenseGroups: profileFile('profiles/license_groups', parseLicenseGroups),
    mirrors: profileFile('profiles/thirdpartymirrors', parseThirdPartyMirrors),
    hasCacheDir: once(async () => (await tree.readDir('metadata/md5-cache')) !== null),
    ebuilds(category, pn) {
      const key = `${category}/${pn}`
      let p = ebuildCache.get(key)
      if (!p) ebuildCache.set(key, (p = listEbuilds(tree, category, pn)))
      return p
    },
    metadata(ebuild) {
      let p = metaCache.get(ebuild.relPath)
      if (!p) metaCache.set(ebuild.relPath, (p = loadMetadata(index, ebuild, evaluate, where, remembered)))
      return p
    },
  }
  return index
}

async function listEbuilds(tree: OverlayTree, category: string, pn: string): Promise<OverlayEbuild[]> {
  if (!isValidCategory(category) || !isValidPackageName(pn)) return []
  const entries = await tree.readDir(`${category}/${pn}`)
  if (!entries) return []
  const out: OverlayEbuild[] = []
  for (const e of entries) {
    if (e.type !== 'file' && e.type !== 'symlink') continue
    const parsed = parseEbuildFileName(pn, e.name)
    if (!parsed) continue
    const relPath = `${category}/${pn}/${e.name}`
    const ebuild: OverlayEbuild = { overlay: tree.overlay, category, pn, pvr: parsed.pvr, version: parsed.version, relPath }
    if (e.type === 'symlink') {
      // One that leads nowhere, or out of its package (which the copy refuses), is no ebuild.
      const chain = await linkChain(tree, `${category}/${pn}`, relPath)
      if (!chain) continue
      ebuild.source = chain[chain.length - 1]
    }
    out.push(ebuild)
  }
  return out
}

async function loadMetadata(
  index: OverlayIndex,
  ebuild: OverlayEbuild,
  evaluate: MetadataEvaluator | undefined,
  where: (rel: string) => { file: string; overlay: string },
  remembered: Remembered | undefined,
): Promise<EbuildMetadata> {
  const cacheRel = `metadata/md5-cache/${ebuild.category}/${ebuild.pn}-${ebuild.pvr}`
  // By content id (git trees have them): the same ebuild and entry as a resolution before.
  const file = ebuild.source ?? ebuild.relPath
  const key = remembered ? await memoKey(index.tree, file, cacheRel) : null
  const known = key ? remembered!.memo.get(key) : undefined
  if (known) {
    const eclasses = await eclassSet(remembered!, known.eclasses, index)
    if (eclasses.hold) return fromMemo(known, eclasses.names)
  }
  const bytes = await index.tree.readFile(file)
  if (!bytes) throw new Error(`ebuild vanished from the tree: ${file}`)
  const cacheText = await readText(index.tree, cacheRel)
  if (cacheText !== null) {
    const entry = parseCacheEntry(cacheText, `${cacheRel} in ::${index.overlay}`)
    if (isCacheEntryValid(entry, md5Hex(bytes), await index.eclassMd5s(entry.eclasses.map((e) => e.name)))) {
      const metadata = toMetadata(entry, 'md5-cache')
      if (key) remembered!.memo.set(key, { keys: Object.fromEntries(metadata.entry.keys), eclasses: eclassesText(entry.eclasses) })
      return metadata
    }
  }
  if (evaluate) return toMetadata(await evaluate(index, ebuild), 'evaluated')
  throw new OlmError(
    'METADATA_INVALID',
    `${ebuild.category}/${ebuild.pn}-${ebuild.pvr} in ::${index.overlay} has no valid md5-cache entry, and this olm cannot evaluate ebuilds`,
    { ...where(ebuild.relPath), package: `${ebuild.category}/${ebuild.pn}` },
  )
}

async function memoKey(tree: OverlayTree, ebuildRel: string, cacheRel: string): Promise<string | null> {
  const [ebuild, entry] = [await tree.entry(ebuildRel), await tree.entry(cacheRel)]
  return ebuild?.type === 'file' && ebuild.id && entry?.type === 'file' && entry.id ? MetadataMemo.key(ebuild.id, entry.id) : null
}

interface Remembered {
  memo: MetadataMemo
  /** by a MemoEntry's eclasses text */
  eclassSets: Map<string, EclassSet>
}

interface EclassSet {
  names: string[]
  /** whether the md5s still hold against the overlay's eclasses */
  hold: boolean
}

async function eclassSet(remembered: Remembered, text: string, index: OverlayIndex): Promise<EclassSet> {
  let set = remembered.eclassSets.get(text)
  if (!set) {
    const pairs = eclassPairs(text)
    const names = pairs?.map((p) => p.name) ?? []
    // Damaged (no pairs): a miss, and the entry is read again.
    set = { names, hold: pairs !== null && eclassesHold(pairs, await index.eclassMd5s(names)) }
    remembered.eclassSets.set(text, set)
  }
  return set
}

/**
 * What the memo kept of an entry, as metadata from the overlay's cache. Its
 * values are fresh strings from JSON.parse, not slices: kept as they are.
 */
function fromMemo(known: MemoEntry, eclasses: string[]): EbuildMetadata {
  const entry: CacheEntry = { keys: new Map(Object.entries(known.keys)), eclasses: [], md5: '' }
  return { entry, origin: 'md5-cache', ...slotsOf(entry), eclasses }
}

function slotsOf(entry: CacheEntry): { slot: string; subSlot: string } {
  const [slot = '0', subSlot] = cacheValue(entry, 'SLOT').split('/')
  return { slot, subSlot: subSlot ?? slot }
}

function toMetadata(entry: CacheEntry, origin: EbuildMetadata['origin']): EbuildMetadata {
  const eclasses = entry.eclasses.map((e) => e.name)
  // The overlay's own entry is copied from the overlay, so only what resolution reads is kept of it.
  const kept = origin === 'md5-cache' ? { keys: resolverKeys(entry), eclasses: [], md5: '' } : entry
  return { entry: kept, origin, ...slotsOf(entry), eclasses }
}

/** The keys the resolver and the closure rules read: dependencies, LICENSE, SLOT, SRC_URI (mirrors). */
const RESOLVER_KEYS = ['SLOT', 'LICENSE', 'SRC_URI', 'DEPEND', 'RDEPEND', 'BDEPEND', 'PDEPEND', 'IDEPEND']

/**
 * Copies of those values: a value sliced from the entry's text keeps the whole
 * text alive (V8 slices share their parent), ~1.5 KB per ebuild examined.
 */
function resolverKeys(entry: CacheEntry): Map<string, string> {
  const keys = new Map<string, string>()
  for (const key of RESOLVER_KEYS) {
    const value = entry.keys.get(key)
    if (value !== undefined) keys.set(key, Buffer.from(value, 'utf8').toString('utf8'))
  }
  return keys
}

