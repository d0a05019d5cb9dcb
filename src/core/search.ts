import type { OverlayTree } from '../overlay/tree.js'
import { linkChain, readText } from '../overlay/tree.js'
import { cacheValue, parseCacheEntry } from '../pms/md5cache.js'
import { isValidCategory, parseEbuildFileName } from '../pms/names.js'
import { compareVersions, type Version } from '../pms/version.js'

export interface PackageHit {
  overlay: string
  cp: string
  description: string
}

/**
 * Packages of a cached overlay whose name or description contains `term`
 * (case-insensitive). Descriptions come from the md5-cache entry of the
 * newest ebuild, else from a literal DESCRIPTION= line (display only: no
 * ebuild is evaluated for a search).
 */
export async function searchTree(tree: OverlayTree, term: string): Promise<PackageHit[]> {
  const want = term.toLowerCase()
  const hits: PackageHit[] = []
  for (const { category, pn } of await listPackageDirs(tree)) {
    const cp = `${category}/${pn}`
    const description = await describePackage(tree, category, pn)
    if (description === null) continue
    if (cp.toLowerCase().includes(want) || description.toLowerCase().includes(want)) hits.push({ overlay: tree.overlay, cp, description })
  }
  return hits
}

/** Every category/package directory of an overlay (top-level repository directories excluded). */
export async function listPackageDirs(tree: OverlayTree): Promise<{ category: string; pn: string }[]> {
  const out: { category: string; pn: string }[] = []
  for (const cat of (await tree.readDir('')) ?? []) {
    if (cat.type !== 'dir' || !isValidCategory(cat.name) || ['eclass', 'licenses', 'metadata', 'profiles'].includes(cat.name)) continue
    for (const pkg of (await tree.readDir(cat.name)) ?? []) if (pkg.type === 'dir') out.push({ category: cat.name, pn: pkg.name })
  }
  return out
}

async function describePackage(tree: OverlayTree, category: string, pn: string): Promise<string | null> {
  // An ebuild may be a symlink to another of its package (see listEbuilds).
  const ebuilds: { pvr: string; version: Version; source: string }[] = []
  for (const e of (await tree.readDir(`${category}/${pn}`)) ?? []) {
    const parsed = e.type === 'file' || e.type === 'symlink' ? parseEbuildFileName(pn, e.name) : null
    if (!parsed) continue
    // A link that leads nowhere is no ebuild, here as when resolving.
    const file = `${category}/${pn}/${e.name}`
    const source = e.type === 'symlink' ? (await linkChain(tree, `${category}/${pn}`, file))?.at(-1) : file
    if (source) ebuilds.push({ pvr: parsed.pvr, version: parsed.version, source })
  }
  ebuilds.sort((a, b) => compareVersions(b.version, a.version))
  const newest = ebuilds[0]
  if (!newest) return null
  const cached = await readText(tree, `metadata/md5-cache/${category}/${pn}-${newest.pvr}`)
  if (cached !== null) {
    try {
      return cacheValue(parseCacheEntry(cached), 'DESCRIPTION')
    } catch {
      // fall through to the ebuild text
    }
  }
  const text = (await readText(tree, newest.source)) ?? ''
  return /^DESCRIPTION=(["'])(.*?)\1\s*$/m.exec(text)?.[2] ?? ''
}
