/**
 * Line-based files of a repository's `profiles/` directory (PMS
 * "profiles directory"; pms.md §1.2): categories, package.mask,
 * license_groups, thirdpartymirrors. Pure: the caller reads the files.
 *
 * Like portage's `grabfile`, a line whose first non-blank character is `#`
 * is a comment, a whitespace-separated word starting with `#` starts an
 * inline comment, and runs of whitespace count as one space.
 */
import { OlmError } from '../errors.js'
import { parseAtom, type Atom } from './atom.js'
import { isValidCategory, isValidLicenseName } from './names.js'

export interface ProfileLine {
  /** 1-based line number in the file. */
  line: number
  /** The words of the line joined by single spaces, inline comment removed. */
  text: string
}

/** Non-comment, non-blank lines, normalised as described above. */
export function parseLineFile(text: string): ProfileLine[] {
  return contentLines(text).map(({ line, words }) => ({ line, text: words.map((w) => w.text).join(' ') }))
}

interface Word {
  text: string
  /** 1-based character offset in the line. */
  column: number
}

function contentLines(text: string): { line: number; words: Word[] }[] {
  const out: { line: number; words: Word[] }[] = []
  text.split('\n').forEach((raw, index) => {
    const words = contentWords(raw)
    if (words.length > 0) out.push({ line: index + 1, words })
  })
  return out
}

function contentWords(raw: string): Word[] {
  const words: Word[] = []
  for (const match of raw.matchAll(/\S+/g)) {
    if (match[0].startsWith('#')) break
    words.push({ text: match[0], column: (match.index ?? 0) + 1 })
  }
  return words
}

/**
 * `profiles/categories`: one category per line, duplicates dropped.
 * An invalid name, or a second word on a line, throws OlmError('NAME_SYNTAX', …, {file, line, column}).
 */
export function parseCategories(text: string, file?: string): string[] {
  const categories = new Set<string>()
  for (const { line, words } of contentLines(text)) {
    const bad = words.find((w, i) => i > 0 || !isValidCategory(w.text))
    if (bad !== undefined)
      throw new OlmError('NAME_SYNTAX', `invalid category name '${bad.text}'`, { file, line, column: bad.column })
    categories.add(words[0]?.text ?? '')
  }
  return [...categories]
}

export interface MaskEntry {
  atom: Atom
  /** The line as written, trimmed (with a leading `-` when negated). */
  raw: string
  line: number
  /** A `-atom` line, which removes a mask inherited from a master. */
  negated: boolean
  /**
   * The comment block above the entry, lines verbatim (with their `#`).
   * Portage files group several atoms under one comment, so every atom of a
   * group (no blank line between them) gets the block that heads the group.
   */
  comment: string[]
}

/**
 * `profiles/package.mask`: one atom per line, `::repo` allowed, no blockers;
 * `-atom` negates. Atom errors are rethrown as ATOM_SYNTAX with {file, line, column}.
 */
export function parsePackageMask(text: string, file?: string): MaskEntry[] {
  const entries: MaskEntry[] = []
  let comment: string[] = []
  let inComment = false
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim()
    if (trimmed === '') {
      comment = []
      inComment = false
    } else if (trimmed.startsWith('#')) {
      if (!inComment) comment = []
      comment.push(trimmed)
      inComment = true
    } else {
      inComment = false
      entries.push(parseMaskLine(trimmed, comment, { file, line: index + 1, column: raw.indexOf(trimmed) + 1 }))
    }
  })
  return entries
}

function parseMaskLine(
  trimmed: string,
  comment: string[],
  where: { file: string | undefined; line: number; column: number },
): MaskEntry {
  const words = contentWords(trimmed)
  const spec = words[0]?.text ?? ''
  if (words.length !== 1)
    throw new OlmError('ATOM_SYNTAX', `package.mask line must hold exactly one atom: '${trimmed}'`, where)
  const negated = spec.startsWith('-')
  try {
    const atom = parseAtom(negated ? spec.slice(1) : spec, { allowRepo: true })
    return { atom, raw: trimmed, line: where.line, negated, comment: [...comment] }
  } catch (err) {
    if (!(err instanceof OlmError)) throw err
    throw new OlmError('ATOM_SYNTAX', `invalid atom in package.mask: '${spec}': ${err.message}`, where, { cause: err })
  }
}

/**
 * `profiles/license_groups`: `GROUP member…`, members being license names or
 * `@OTHERGROUP`. A group defined twice is extended, as portage merges them.
 * Invalid names throw OlmError('NAME_SYNTAX', …, {file, line, column}).
 */
export function parseLicenseGroups(text: string, file?: string): Map<string, string[]> {
  const groups = new Map<string, string[]>()
  for (const { line, words } of contentLines(text)) {
    const [group, ...members] = words
    if (group === undefined) continue
    const bad = [group, ...members].find((w, i) => !isValidLicenseName(i > 0 ? w.text.replace(/^@/, '') : w.text))
    if (bad !== undefined)
      throw new OlmError('NAME_SYNTAX', `invalid license or group name '${bad.text}' in license_groups`, {
        file,
        line,
        column: bad.column,
      })
    groups.set(group.text, [...(groups.get(group.text) ?? []), ...members.map((w) => w.text)])
  }
  return groups
}

/**
 * `profiles/thirdpartymirrors`: `name url…`. A name repeated is extended
 * (portage's `grabdict` is incremental); a line with a name only is skipped,
 * as portage does.
 */
export function parseThirdPartyMirrors(text: string, file?: string): Map<string, string[]> {
  const mirrors = new Map<string, string[]>()
  for (const { line, words } of contentLines(text)) {
    const [name, ...urls] = words
    if (name === undefined) continue
    if (/[/:]/.test(name.text))
      throw new OlmError('METADATA_INVALID', `invalid mirror name '${name.text}' in thirdpartymirrors`, {
        file,
        line,
        column: name.column,
      })
    if (urls.length > 0) mirrors.set(name.text, [...(mirrors.get(name.text) ?? []), ...urls.map((w) => w.text)])
  }
  return mirrors
}
