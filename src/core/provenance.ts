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

/** A copied package as a sync's summary compares it. */
export interface CopiedVersions {
  package: string
  overlay: string
  versions: string[]
}

export function copiedVersions(closure: Closure): CopiedVersions[] {
  return closure.packages.map((p) => ({ package: p.cp, overlay: p.overlay, versions: p.ebuilds.map((e) => e.ebuild.pvr) }))
}

/** What a sync changes, package by package, for the summary a person reads. */
export function diffProvenance(before: Provenance | null, copied: CopiedVersions[]): PackageChange[] {
  const old = new Map((before?.packages ?? []).map((p) => [p.package, p]))
  const changes: PackageChange[] = []
  for (const { package: cp, overlay, versions: after } of copied) {
    const prior = old.get(cp)
    old.delete(cp)
    if (!prior) changes.push({ package: cp, overlay, kind: 'new', before: [], after })
    else if (prior.versions.join(' ') !== after.join(' ') || prior.overlay !== overlay)
      changes.push({ package: cp, overlay, kind: 'updated', before: prior.versions, after })
  }
  for (const p of old.values()) changes.push({ package: p.package, overlay: p.overlay, kind: 'removed', before: p.versions, after: [] })
  return changes
}
