import type { Request } from '../config/requests.js'
import type { MaskEntry } from '../pms/profiles.js'
import type { EbuildMetadata, OverlayEbuild } from './overlay-index.js'

/**
 * Why something is in the generated repository: one step of a chain that
 * starts at a requested line.
 */
export type Reason =
  | { kind: 'requested'; request: Request }
  /** by: the ebuild (cat/pn-pvr) whose variable holds the atom */
  | { kind: 'dependency'; by: string; variable: string; atom: string }
  /** by: the package (cat/pn), for any of its ebuilds */
  | { kind: 'inherit'; by: string }
  | { kind: 'license'; by: string }

export interface ClosurePackage {
  cp: string
  category: string
  pn: string
  overlay: string
  commit: string
  requested: boolean
  /** copied ebuilds with their metadata, sorted by version */
  ebuilds: { ebuild: OverlayEbuild; metadata: EbuildMetadata }[]
  reasons: Reason[]
  /** the first chain that reached it, from a request down to this package (human-readable steps). */
  chain: string[]
}

export interface ClosureItem {
  name: string
  overlay: string
  commit: string
  reasons: Reason[]
  chain: string[]
}

export interface CarriedMask {
  overlay: string
  entry: MaskEntry
}

export interface Unsatisfied {
  atom: string
  chain: string[]
}

export interface Closure {
  packages: ClosurePackage[]
  eclasses: ClosureItem[]
  licenses: ClosureItem[]
  masks: CarriedMask[]
  /** group → licenses, only memberships the masters lack */
  licenseGroups: { overlay: string; group: string; licenses: string[] }[]
  mirrors: { overlay: string; name: string; urls: string[] }[]
  categories: string[]
  /** categories whose metadata.xml is carried (masters lack one) */
  categoryMetadata: { category: string; overlay: string }[]
  /** masters the generated repository needs besides gentoo */
  masters: string[]
  unsatisfied: Unsatisfied[]
  warnings: string[]
}
