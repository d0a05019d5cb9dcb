import { OlmError } from '../errors.js'
import { isValidCategory, isValidPackageName, isValidRepoName, isValidSlotName, splitPackageVersion } from './names.js'
import { compareVersions, versionWithoutRevision, type Version } from './version.js'

/**
 * Package dependency specifications ("atoms", PMS "Package dependency
 * specifications", pms.md §4.3–4.7):
 *
 *   [!|!!] [OP] CATEGORY/PN[-VERSION[*]] [:SLOTDEP] [::REPO] [[USEDEPS]]
 *
 * The parts come in exactly this order. Parsing keeps every part as written,
 * so formatAtom(parseAtom(s)) === s for every valid s.
 */
export type AtomOp = '' | '<' | '<=' | '=' | '~' | '>=' | '>'

export interface UseDep {
  flag: string
  prefix: '' | '-' | '!'
  suffix: '' | '?' | '='
  /** `(+)`/`(-)`: what to assume when the target lacks the flag in IUSE (EAPI 4+). */
  default: '' | '(+)' | '(-)'
}

export interface Atom {
  blocker: '' | '!' | '!!'
  /** '' exactly when `version` is undefined. */
  op: AtomOp
  /** `=cat/pkg-1.2*`; only ever true with op '='. */
  glob: boolean
  category: string
  pn: string
  version?: Version
  /** ":2" → "2", ":0/1.1" → "0". Undefined for ":*", ":=" and no slot part. */
  slot?: string
  /** ":0/1.1" → "1.1". */
  subSlot?: string
  /** ":*" → '*', ":=" and ":2=" → '='. */
  slotOp?: '' | '*' | '='
  /** "::guru" → "guru" (only with ParseAtomOptions.allowRepo). */
  repo?: string
  /** Present (possibly with several items) only when the atom has a [...] part. */
  useDeps?: UseDep[]
}

export interface ParseAtomOptions {
  /** Accept a leading `!` / `!!` (§4.4): DEPEND-family variables do, package lists do not. */
  allowBlocker?: boolean
  /**
   * Accept `::repo` (§4.7): no EAPI allows it in ebuild dependencies, but
   * profiles with `profile-repo-deps`, package.mask pins and user lists do.
   */
  allowRepo?: boolean
}

const OPERATORS: AtomOp[] = ['<=', '>=', '<', '>', '=', '~']

/** §4.6: `[!-]? FLAG ((+)|(-))? [?=]?`; which prefix/suffix pairs are legal is checked after. */
const USE_DEP_RE = /^([!-]?)([A-Za-z0-9][A-Za-z0-9+_@-]*)(\(\+\)|\(-\))?([?=]?)$/

/**
 * Parses one atom. Throws OlmError('ATOM_SYNTAX') whose message quotes the
 * atom and whose `column` (1-based, within `s`) points at the offending part.
 * A `:SLOT/SUBSLOT=` slot part (only meant for the installed-package database)
 * is accepted so that such atoms still round-trip.
 */
export function parseAtom(s: string, opts: ParseAtomOptions = {}): Atom {
  let pos = 0
  const blocker = s.startsWith('!!') ? '!!' : s.startsWith('!') ? '!' : ''
  if (blocker !== '' && opts.allowBlocker !== true) fail(s, 0, 'blockers are not allowed here')
  pos += blocker.length
  const op = OPERATORS.find((o) => s.startsWith(o, pos)) ?? ''
  pos += op.length

  const useStart = indexOrEnd(s, '[', pos)
  const repoStart = indexOrEnd(s.slice(0, useStart), '::', pos)
  const slotStart = indexOrEnd(s.slice(0, repoStart), ':', pos)

  const atom: Atom = { blocker, op, ...parsePackagePart(s, pos, slotStart, op) }
  if (slotStart < repoStart) Object.assign(atom, parseSlotDep(s, slotStart + 1, repoStart))
  if (repoStart < useStart) atom.repo = parseRepo(s, repoStart, useStart, opts)
  if (useStart < s.length) atom.useDeps = parseUseDeps(s, useStart)
  return atom
}

/** Like parseAtom, but returns null for a syntax error. */
export function tryParseAtom(s: string, opts?: ParseAtomOptions): Atom | null {
  try {
    return parseAtom(s, opts)
  } catch (err) {
    if (err instanceof OlmError && err.code === 'ATOM_SYNTAX') return null
    throw err
  }
}

/** Writes an atom back in PMS order; the inverse of parseAtom. */
export function formatAtom(a: Atom): string {
  let out = `${a.blocker}${a.op}${atomKey(a)}`
  if (a.version !== undefined) out += `-${a.version.raw}${a.glob ? '*' : ''}`
  if (a.slot !== undefined) {
    out += `:${a.slot}${a.subSlot !== undefined ? `/${a.subSlot}` : ''}${a.slotOp ?? ''}`
  } else if (a.slotOp) {
    out += `:${a.slotOp}`
  }
  if (a.repo !== undefined) out += `::${a.repo}`
  if (a.useDeps !== undefined) out += `[${a.useDeps.map(formatUseDep).join(',')}]`
  return out
}

export function formatUseDep(u: UseDep): string {
  return `${u.prefix}${u.flag}${u.default}${u.suffix}`
}

/** The qualified package name "category/pn". */
export function atomKey(a: { category: string; pn: string }): string {
  return `${a.category}/${a.pn}`
}

/** One concrete package version, as the resolver or the local tree knows it. */
export interface AtomCandidate {
  category: string
  pn: string
  version: Version
  /** undefined when unknown: a slot dependency is then not checked. */
  slot?: string
  /** undefined means "same as slot" (PMS: SLOT without "/sub" has sub-slot = slot). */
  subSlot?: string
  repo?: string
}

/**
 * Whether `c` satisfies the atom's package name, version operator (§4.3),
 * slot/sub-slot (§4.5, only when the atom names a slot and c.slot is known)
 * and repository (§4.7: when the atom has `::repo`, c.repo must equal it).
 * Blocker and USE dependencies are ignored: callers decide what they mean.
 */
export function atomMatches(atom: Atom, c: AtomCandidate): boolean {
  return (
    atom.category === c.category &&
    atom.pn === c.pn &&
    versionMatches(atom, c.version) &&
    slotMatches(atom, c) &&
    (atom.repo === undefined || atom.repo === c.repo)
  )
}

function versionMatches(atom: Atom, v: Version): boolean {
  const want = atom.version
  if (want === undefined) return true
  if (atom.glob) return globMatches(want, v)
  switch (atom.op) {
    case '=':
      return compareVersions(v, want) === 0
    case '~':
      // Portage compares PV literally here (pms.md §4.3), so "1.0" does not match "1.00".
      return versionWithoutRevision(v) === versionWithoutRevision(want)
    case '<':
      return compareVersions(v, want) < 0
    case '<=':
      return compareVersions(v, want) <= 0
    case '>':
      return compareVersions(v, want) > 0
    case '>=':
      return compareVersions(v, want) >= 0
    case '':
      throw new Error(`atom ${formatAtom(atom)} has a version but no operator`)
  }
}

/**
 * `=pkg-1.2*`, with portage's semantics: a string-prefix match on the version
 * (leading zeros of the first component dropped on both sides) that must end
 * on a component boundary, so `1*` matches `1.5`, `1_rc1`, `1-r3`, `1a` but not `10`.
 */
function globMatches(pattern: Version, v: Version): boolean {
  const prefix = dropLeadingZeros(pattern.raw)
  const text = dropLeadingZeros(v.raw)
  if (!text.startsWith(prefix)) return false
  const next = text.charAt(prefix.length)
  return next === '' || '-._'.includes(next) || isDigit(next) !== isDigit(prefix.charAt(prefix.length - 1))
}

function dropLeadingZeros(raw: string): string {
  const stripped = raw.replace(/^0+/, '')
  return isDigit(stripped.charAt(0)) ? stripped : `0${stripped}`
}

function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9' && ch !== ''
}

function slotMatches(atom: Atom, c: AtomCandidate): boolean {
  if (atom.slot === undefined || c.slot === undefined) return true
  if (atom.slot !== c.slot) return false
  return atom.subSlot === undefined || atom.subSlot === (c.subSlot ?? c.slot)
}

/** `CATEGORY/PN` or, after an operator, `CATEGORY/PN-VERSION[*]`; s[start, end). */
function parsePackagePart(s: string, start: number, end: number, op: AtomOp): Pick<Atom, 'category' | 'pn' | 'version' | 'glob'> {
  const text = s.slice(start, end)
  const slash = text.indexOf('/')
  if (slash === -1) fail(s, start, 'expected "category/package"')
  const category = text.slice(0, slash)
  if (!isValidCategory(category)) fail(s, start, `invalid category "${category}"`)
  const nameStart = start + slash + 1
  const rest = text.slice(slash + 1)
  if (op === '') {
    if (isValidPackageName(rest)) return { category, pn: rest, glob: false }
    if (rest.endsWith('*')) fail(s, end - 1, '"*" is only allowed after "=" with a version')
    if (splitPackageVersion(rest) !== null) fail(s, nameStart, 'a version needs an operator such as "=" or ">="')
    fail(s, nameStart, `invalid package name "${rest}"`)
  }
  const glob = rest.endsWith('*')
  if (glob && op !== '=') fail(s, end - 1, `"*" is only allowed with "=", not "${op}"`)
  const body = glob ? rest.slice(0, -1) : rest
  const split = splitPackageVersion(body)
  if (split === null) {
    const why = isValidPackageName(body) ? `operator "${op}" needs a version` : `invalid package name or version "${body}"`
    fail(s, nameStart, why)
  }
  return { category, pn: split.pn, version: split.version, glob }
}

/** §4.5: `*`, `=`, `SLOT`, `SLOT=`, `SLOT/SUB`, `SLOT/SUB=`; s[start, end). */
function parseSlotDep(s: string, start: number, end: number): Pick<Atom, 'slot' | 'subSlot' | 'slotOp'> {
  const text = s.slice(start, end)
  if (text === '*' || text === '=') return { slotOp: text }
  const slotOp = text.endsWith('=') ? '=' : ''
  const names = (slotOp ? text.slice(0, -1) : text).split('/')
  if (names.length > 2) fail(s, start, `invalid slot "${text}": more than one "/"`)
  const [slot, subSlot] = names as [string, string | undefined]
  if (!isValidSlotName(slot)) fail(s, start, `invalid slot "${slot}"`)
  if (subSlot !== undefined && !isValidSlotName(subSlot))
    fail(s, start + slot.length + 1, `invalid sub-slot "${subSlot}"`)
  const dep: Pick<Atom, 'slot' | 'subSlot' | 'slotOp'> = { slot }
  if (subSlot !== undefined) dep.subSlot = subSlot
  if (slotOp) dep.slotOp = slotOp
  return dep
}

/** `::REPO` starting at s[start]; s[start, end). */
function parseRepo(s: string, start: number, end: number, opts: ParseAtomOptions): string {
  if (opts.allowRepo !== true) fail(s, start, '"::repository" is not allowed here')
  const repo = s.slice(start + 2, end)
  if (!isValidRepoName(repo)) fail(s, start + 2, `invalid repository name "${repo}"`)
  return repo
}

/** §4.6: `[item,item,...]` from s[start] to the end of the atom. */
function parseUseDeps(s: string, start: number): UseDep[] {
  if (!s.endsWith(']') || s.length - start < 3) fail(s, start, 'USE dependencies must be "[flag,...]" at the end')
  const deps: UseDep[] = []
  let itemStart = start + 1
  for (const item of s.slice(start + 1, -1).split(',')) {
    deps.push(parseUseDep(s, item, itemStart))
    itemStart += item.length + 1
  }
  return deps
}

function parseUseDep(s: string, item: string, column: number): UseDep {
  const m = USE_DEP_RE.exec(item)
  if (m === null) fail(s, column, `invalid USE dependency "${item}"`)
  const dep = { prefix: m[1], flag: m[2], default: m[3] ?? '', suffix: m[4] } as UseDep
  // Legal shapes: flag, -flag, flag=, !flag=, flag?, !flag?  (so no -flag?, -flag=, !flag)
  if ((dep.prefix === '-' && dep.suffix !== '') || (dep.prefix === '!' && dep.suffix === ''))
    fail(s, column, `invalid USE dependency "${item}"`)
  return dep
}

function indexOrEnd(s: string, needle: string, from: number): number {
  const i = s.indexOf(needle, from)
  return i === -1 ? s.length : i
}

/** `index` is 0-based into the atom; the error context column is 1-based. */
function fail(s: string, index: number, reason: string): never {
  throw new OlmError('ATOM_SYNTAX', `invalid atom "${s}": ${reason}`, { column: index + 1 })
}
