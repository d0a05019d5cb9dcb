import { OlmError } from '../errors.js'

/**
 * Package versions: syntax (PMS "Version specifications", pms.md §3.1) and the
 * PMS comparison algorithm (§3.2). Components are kept as digit strings and
 * compared without `Number`, because PMS puts no limit on their length
 * (date-style `_pre20240208` already exceeds what is comfortable, and
 * `1.99999999999999999999` must still sort correctly).
 */
export type SuffixType = 'alpha' | 'beta' | 'pre' | 'rc' | 'p'

export interface VersionSuffix {
  type: SuffixType
  /** Digits as written, '' when absent (compares as 0). */
  num: string
}

export interface Version {
  /** Exactly as written, e.g. "1.0_rc2-r3". */
  raw: string
  /** Numeric components as written, leading zeros kept: "1.01" → ["1", "01"]. */
  numbers: string[]
  /** '' or one of a..z. */
  letter: string
  suffixes: VersionSuffix[]
  /** Revision digits, '' when absent. Absent and "-r0" compare equal. */
  revision: string
}

/** Suffix order of PMS §3.2 step 5: _alpha < _beta < _pre < _rc < _p. */
const SUFFIX_RANK: Record<SuffixType, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, p: 4 }

/** Longest names first so that "pre" is not read as "p" followed by "re". */
const SUFFIX_NAMES: SuffixType[] = ['alpha', 'beta', 'pre', 'rc', 'p']

/**
 * Parses a version (with optional `-rN` revision).
 * Throws OlmError('VERSION_SYNTAX') with the 1-based `column` of the first
 * character that does not fit the grammar (length + 1 when input ends early).
 */
export function parseVersion(s: string): Version {
  const result = scanVersion(s)
  if (typeof result === 'number') {
    const where = result < s.length ? `at column ${result + 1}` : 'at the end'
    throw new OlmError('VERSION_SYNTAX', `invalid version "${s}" (unexpected ${where})`, { column: result + 1 })
  }
  return result
}

/** Like parseVersion, but returns null instead of throwing. */
export function tryParseVersion(s: string): Version | null {
  const result = scanVersion(s)
  return typeof result === 'number' ? null : result
}

/** True when `s` is a complete version per §3.1 (revision allowed). */
export function isValidVersion(s: string): boolean {
  return typeof scanVersion(s) !== 'number'
}

/** PV: the version as written, without its "-rN" part ("1.0_rc2-r3" → "1.0_rc2"). */
export function versionWithoutRevision(v: Version): string {
  return v.revision === '' ? v.raw : v.raw.slice(0, v.raw.length - v.revision.length - 2)
}

/**
 * Compares two versions per PMS §3.2 (the algorithm portage's `vercmp` also
 * implements). Returns a negative number, 0 or a positive number.
 * Equal versions may be written differently ("1.0" and "1.00-r0").
 */
export function compareVersions(a: Version, b: Version): number {
  return (
    compareNumberParts(a.numbers, b.numbers) ||
    compareAscii(a.letter, b.letter) ||
    compareSuffixes(a.suffixes, b.suffixes) ||
    compareDigitStrings(a.revision, b.revision)
  )
}

/** Steps 1–3: first component as integer, later ones by the leading-zero rule, then count. */
function compareNumberParts(a: string[], b: string[]): number {
  const first = compareDigitStrings(a[0]!, b[0]!)
  if (first !== 0) return first
  const shared = Math.min(a.length, b.length)
  for (let i = 1; i < shared; i++) {
    const ai = a[i]!
    const bi = b[i]!
    const cmp =
      ai.startsWith('0') || bi.startsWith('0')
        ? compareAscii(ai.replace(/0+$/, ''), bi.replace(/0+$/, ''))
        : compareDigitStrings(ai, bi)
    if (cmp !== 0) return cmp
  }
  return Math.sign(a.length - b.length)
}

/** Step 5: pairwise suffixes; then the first extra suffix decides (_p greater, others smaller). */
function compareSuffixes(a: VersionSuffix[], b: VersionSuffix[]): number {
  const shared = Math.min(a.length, b.length)
  for (let i = 0; i < shared; i++) {
    const sa = a[i]!
    const sb = b[i]!
    const cmp =
      sa.type === sb.type
        ? compareDigitStrings(sa.num, sb.num)
        : Math.sign(SUFFIX_RANK[sa.type] - SUFFIX_RANK[sb.type])
    if (cmp !== 0) return cmp
  }
  if (a.length > shared) return a[shared]!.type === 'p' ? 1 : -1
  if (b.length > shared) return b[shared]!.type === 'p' ? -1 : 1
  return 0
}

/** Compares non-negative integers written as digit strings ('' = 0) of any length. */
export function compareDigitStrings(a: string, b: string): number {
  const x = a.replace(/^0+/, '')
  const y = b.replace(/^0+/, '')
  if (x.length !== y.length) return Math.sign(x.length - y.length)
  return compareAscii(x, y)
}

function compareAscii(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Hand-written scanner for §3.1 so errors can point at a column.
 * Returns the Version, or the 0-based index where the input stops fitting.
 */
function scanVersion(s: string): Version | number {
  let pos = 0
  const digits = (): string => {
    const start = pos
    while (pos < s.length && s.charCodeAt(pos) >= 48 && s.charCodeAt(pos) <= 57) pos++
    return s.slice(start, pos)
  }
  const numbers: string[] = []
  do {
    if (numbers.length > 0) pos++ // the '.'
    const n = digits()
    if (n === '') return pos
    numbers.push(n)
  } while (s[pos] === '.')
  let letter = ''
  if (pos < s.length && s[pos]! >= 'a' && s[pos]! <= 'z') letter = s[pos++]!
  const suffixes: VersionSuffix[] = []
  while (s[pos] === '_') {
    const type = SUFFIX_NAMES.find((name) => s.startsWith(name, pos + 1))
    if (type === undefined) return pos + 1
    pos += 1 + type.length
    suffixes.push({ type, num: digits() })
  }
  let revision = ''
  if (s.startsWith('-r', pos)) {
    pos += 2
    revision = digits()
    if (revision === '') return pos
  }
  if (pos !== s.length) return pos
  return { raw: s, numbers, letter, suffixes, revision }
}
