import { OlmError } from '../errors.js'
import { type Atom, atomKey, formatAtom, parseAtom } from '../pms/atom.js'
import { isValidRepoName } from '../pms/names.js'

/**
 * One line of packages.d: `[op]category/package[-version][:slot]::overlay`.
 * The atom never carries the `::overlay` part: that is `overlay`.
 */
export interface Request {
  atom: Atom
  overlay: string
  /** "category/package" */
  cp: string
  /** true when a version operator or slot narrows which ebuilds are copied. */
  narrowed: boolean
  file: string
  line: number
  raw: string
}

/**
 * Parses one request as written in a file or on the command line. Blockers and
 * USE dependencies mean nothing for "which ebuilds to copy", so they are refused
 * rather than silently ignored.
 */
export function parseRequest(raw: string, where: { file: string; line: number }): Request {
  const text = raw.trim()
  const sep = text.lastIndexOf('::')
  if (sep < 0)
    throw new OlmError('ATOM_SYNTAX', `"${text}" names no overlay: write category/package::overlay`, where)
  const overlay = text.slice(sep + 2)
  if (!isValidRepoName(overlay))
    throw new OlmError('ATOM_SYNTAX', `"${overlay}" is not a valid overlay name in "${text}"`, where)
  let atom: Atom
  try {
    atom = parseAtom(text.slice(0, sep))
  } catch (err) {
    const reason = err instanceof OlmError ? err.message : String(err)
    throw new OlmError('ATOM_SYNTAX', `"${text}" is not a valid package atom: ${reason}`, where, { cause: err })
  }
  if (atom.blocker) throw new OlmError('ATOM_SYNTAX', `"${text}": a blocker cannot be requested`, where)
  if (atom.useDeps?.length) throw new OlmError('ATOM_SYNTAX', `"${text}": USE dependencies mean nothing here; drop the [...]`, where)
  if (atom.slotOp) throw new OlmError('ATOM_SYNTAX', `"${text}": slot operators (:* :=) mean nothing here`, where)
  return {
    atom,
    overlay,
    cp: atomKey(atom),
    narrowed: atom.op !== '' || atom.slot !== undefined,
    file: where.file,
    line: where.line,
    raw: text,
  }
}

/** The canonical text of a request, as `olm add` writes it. */
export function formatRequest(r: Pick<Request, 'atom' | 'overlay'>): string {
  return `${formatAtom(r.atom)}::${r.overlay}`
}

/**
 * Parses a packages.d file: one request per line, `#` comments (whole line or
 * after whitespace, as portage's package.* files) and blank lines allowed.
 * Collects every bad line instead of stopping at the first.
 */
export function parseRequestFile(text: string, file: string): { requests: Request[]; errors: OlmError[] } {
  const requests: Request[] = []
  const errors: OlmError[] = []
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const content = stripComment(rawLine).trim()
    if (content === '') return
    if (/\s/.test(content)) {
      errors.push(new OlmError('ATOM_SYNTAX', `one request per line, got "${content}"`, { file, line: i + 1 }))
      return
    }
    try {
      requests.push(parseRequest(content, { file, line: i + 1 }))
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      errors.push(err)
    }
  })
  return { requests, errors }
}

export function stripComment(line: string): string {
  if (line.trimStart().startsWith('#')) return ''
  const m = /\s#/.exec(line)
  return m ? line.slice(0, m.index) : line
}

/**
 * Cross-line checks: one package from two overlays is a conflict (contract:
 * exit 2), named with both places.
 */
export function checkRequestConflicts(requests: Request[]): OlmError[] {
  const first = new Map<string, Request>()
  const errors: OlmError[] = []
  for (const r of requests) {
    const prior = first.get(r.cp)
    if (!prior) first.set(r.cp, r)
    else if (prior.overlay !== r.overlay)
      errors.push(
        new OlmError(
          'CONFLICT',
          `${r.cp} is requested from ::${r.overlay} here and from ::${prior.overlay} at ${prior.file}:${prior.line}; a package can come from one overlay only`,
          { file: r.file, line: r.line, package: r.cp },
        ),
      )
  }
  return errors
}
