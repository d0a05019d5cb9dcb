import fs from 'node:fs/promises'
import path from 'node:path'
import { isErrno } from '../config/load.js'
import type { Closure } from '../resolve/closure-types.js'

/** metadata/overlayman.json as written by repo/plan.ts. */
export interface Provenance {
  format: number
  repoName: string
  packages: { package: string; overlay: string; commit: string; requested: boolean; versions: string[]; neededBy: string[]; chain: string[] }[]
  eclasses: { eclass: string; overlay: string; commit: string; neededBy: string[]; chain: string[] }[]
  licenses: { license: string; overlay: string; commit: string; neededBy: string[]; chain: string[] }[]
  unsatisfied: { atom: string; chain: string[] }[]
}

export async function readProvenance(location: string): Promise<Provenance | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(location, 'metadata/overlayman.json'), 'utf8')) as Provenance
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || err instanceof SyntaxError) return null
    throw err
  }
}

export interface PackageChange {
  package: string
  overlay: string
  kind: 'new' | 'updated' | 'removed'
  before: string[]
  after: string[]
}

/** What a sync changes, package by package, for the summary a person reads. */
export function diffProvenance(before: Provenance | null, closure: Closure): PackageChange[] {
  const old = new Map((before?.packages ?? []).map((p) => [p.package, p]))
  const changes: PackageChange[] = []
  for (const p of closure.packages) {
    const after = p.ebuilds.map((e) => e.ebuild.pvr)
    const prior = old.get(p.cp)
    old.delete(p.cp)
    if (!prior) changes.push({ package: p.cp, overlay: p.overlay, kind: 'new', before: [], after })
    else if (prior.versions.join(' ') !== after.join(' ') || prior.overlay !== p.overlay)
      changes.push({ package: p.cp, overlay: p.overlay, kind: 'updated', before: prior.versions, after })
  }
  for (const p of old.values()) changes.push({ package: p.package, overlay: p.overlay, kind: 'removed', before: p.versions, after: [] })
  return changes
}
