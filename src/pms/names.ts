import { isValidVersion, tryParseVersion, type Version } from './version.js'

/**
 * Name rules of PMS "Restrictions upon names" (pms.md §2.1) and the
 * package/version split of §2.2–2.3. All checks are ASCII-only and no name may
 * be empty; PMS sets no length limit.
 */

const CATEGORY_RE = /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/
const PACKAGE_RE = /^[A-Za-z0-9_][A-Za-z0-9+_-]*$/
const REPO_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/
const ECLASS_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/
const USE_FLAG_RE = /^[A-Za-z0-9][A-Za-z0-9+_@-]*$/
const KEYWORD_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/

/** Category, slot, sub-slot, license and EAPI names share one rule. */
const DOTTED_NAME_RE = CATEGORY_RE

export function isValidCategory(s: string): boolean {
  return CATEGORY_RE.test(s)
}

/**
 * PN: the characters of §2.1 and no version-like tail, i.e. no "-" followed
 * by something that is a whole valid version, revision included
 * (`foo-2`, `foo-2a`, `foo-1-r1` are not package names; `foo-r1`, `foo-bar2` are).
 */
export function isValidPackageName(s: string): boolean {
  if (!PACKAGE_RE.test(s)) return false
  for (let i = s.indexOf('-'); i !== -1; i = s.indexOf('-', i + 1)) {
    if (isValidVersion(s.slice(i + 1))) return false
  }
  return true
}

/** Repository names must also be valid package names, so `local-1` is refused. */
export function isValidRepoName(s: string): boolean {
  return REPO_RE.test(s) && isValidPackageName(s)
}

/** Slot or sub-slot name (one side of "SLOT/SUBSLOT"). */
export function isValidSlotName(s: string): boolean {
  return DOTTED_NAME_RE.test(s)
}

/** `default` is reserved because `inherit default` would clash with the phase helper. */
export function isValidEclassName(s: string): boolean {
  return ECLASS_RE.test(s) && s !== 'default'
}

export function isValidLicenseName(s: string): boolean {
  return DOTTED_NAME_RE.test(s)
}

export function isValidUseFlag(s: string): boolean {
  return USE_FLAG_RE.test(s)
}

/** A bare keyword, without the `~`/`-` prefixes KEYWORDS allows around it. */
export function isValidKeyword(s: string): boolean {
  return KEYWORD_RE.test(s)
}

export function isValidEapi(s: string): boolean {
  return DOTTED_NAME_RE.test(s)
}

export interface PackageVersion {
  pn: string
  version: Version
  /** PVR literally as written in the name, e.g. "1.0-r0" (portage keeps it verbatim). */
  pvr: string
}

/**
 * Splits PF ("foo-bar-1.0_rc2-r3") into PN and version the way portage's
 * `catpkgsplit` does (§2.2): split at the leftmost hyphen whose remainder is a
 * whole version, then require a valid PN. Returns null when PF is not a
 * package-version.
 */
export function splitPackageVersion(pf: string): PackageVersion | null {
  for (let i = pf.indexOf('-'); i !== -1; i = pf.indexOf('-', i + 1)) {
    const version = tryParseVersion(pf.slice(i + 1))
    if (version === null) continue
    const pn = pf.slice(0, i)
    return isValidPackageName(pn) ? { pn, version, pvr: version.raw } : null
  }
  return null
}

export interface CategoryPackageVersion extends PackageVersion {
  category: string
}

/** Splits "cat/PF" (md5-cache paths, `olm list` output); null when either half is invalid. */
export function splitCategoryPackageVersion(cpv: string): CategoryPackageVersion | null {
  const slash = cpv.indexOf('/')
  if (slash === -1) return null
  const category = cpv.slice(0, slash)
  if (!isValidCategory(category)) return null
  const split = splitPackageVersion(cpv.slice(slash + 1))
  return split === null ? null : { category, ...split }
}

const EBUILD_SUFFIX = '.ebuild'

/**
 * Reads `<PN>-<PVR>.ebuild` inside the package directory `pnDir` (§2.3).
 * Returns null for any file that is not a correctly named ebuild of that
 * package; PMS says a PM ignores such files, so callers skip them silently.
 */
export function parseEbuildFileName(pnDir: string, fileName: string): PackageVersion | null {
  if (!fileName.endsWith(EBUILD_SUFFIX) || !fileName.startsWith(`${pnDir}-`)) return null
  if (!isValidPackageName(pnDir)) return null
  const pvr = fileName.slice(pnDir.length + 1, fileName.length - EBUILD_SUFFIX.length)
  const version = tryParseVersion(pvr)
  return version === null ? null : { pn: pnDir, version, pvr }
}
