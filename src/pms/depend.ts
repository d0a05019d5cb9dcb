/**
 * Dependency-specification strings (PMS "Dependency specification format";
 * pms.md §4.1–4.2): DEPEND and friends, LICENSE, SRC_URI, REQUIRED_USE,
 * RESTRICT/PROPERTIES. Pure: no I/O.
 *
 * The grammar is whitespace-tokenised: `(`, `)`, `||`, `^^`, `??` and `flag?`
 * are separate tokens, so `foo?(`, `(a)` and `||(` are syntax errors.
 *
 * Empty groups (`( )`, `|| ( )`, `flag? ( )`) are accepted although the PMS
 * grammar asks for at least one item: portage accepts them, eclass-built cache
 * values contain them, and PMS gives `|| ( )` a meaning (§4.2).
 */
import { OlmError, assertNever } from '../errors.js'
import { formatAtom, parseAtom, type Atom } from './atom.js'
import { isValidLicenseName, isValidUseFlag } from './names.js'

export type DepNode =
  | { kind: 'atom'; atom: Atom } // DEPEND family leaves, blockers included (atom.blocker)
  /**
   * LICENSE names, RESTRICT/PROPERTIES words, REQUIRED_USE `flag`/`!flag`,
   * SRC_URI tokens. A SRC_URI rename `uri -> name` stays three leaves in a
   * row (`uri`, `->`, `name`), so formatting reproduces it unchanged.
   */
  | { kind: 'leaf'; value: string }
  | { kind: 'all-of'; children: DepNode[] } // ( a b )
  | { kind: 'any-of'; children: DepNode[] } // || ( a b )
  | { kind: 'exactly-one'; children: DepNode[] } // ^^ ( a b )   REQUIRED_USE
  | { kind: 'at-most-one'; children: DepNode[] } // ?? ( a b )   REQUIRED_USE
  | { kind: 'use-if'; flag: string; negate: boolean; children: DepNode[] } // [!]flag? ( … )

/** Which variable a string comes from; decides the leaf syntax and the allowed group operators (pms.md §4.1). */
export type DependKind = 'depend' | 'license' | 'src-uri' | 'required-use' | 'plain'

type GroupKind = 'any-of' | 'exactly-one' | 'at-most-one'

const GROUP_OPERATORS: Record<string, GroupKind> = { '||': 'any-of', '^^': 'exactly-one', '??': 'at-most-one' }

const ALLOWED_OPERATORS: Record<DependKind, readonly GroupKind[]> = {
  depend: ['any-of'],
  license: ['any-of'],
  'required-use': ['any-of', 'exactly-one', 'at-most-one'],
  'src-uri': [],
  plain: [],
}

const OPERATOR_TOKEN: Record<GroupKind, string> = { 'any-of': '||', 'exactly-one': '^^', 'at-most-one': '??' }

const USE_CONDITIONAL = /^(!?)([^?]*)\?$/

interface Token {
  text: string
  /** 1-based character offset of the token in the parsed string. */
  column: number
}

/**
 * Parses a dependency-specification string into a tree.
 * Throws OlmError('DEPEND_SYNTAX') with the 1-based `column` of the offending
 * token; an invalid atom is reported the same way, with the ATOM_SYNTAX error as `cause`.
 */
export function parseDepend(s: string, kind: DependKind = 'depend'): DepNode[] {
  const parser = new Parser(s, kind)
  return parser.parseAll()
}

class Parser {
  private readonly tokens: Token[]
  private pos = 0

  constructor(
    private readonly source: string,
    private readonly kind: DependKind,
  ) {
    this.tokens = tokenize(source)
  }

  parseAll(): DepNode[] {
    const nodes = this.parseItems(null)
    const extra = this.tokens[this.pos]
    if (extra !== undefined) throw this.error(`unbalanced ')'`, extra)
    return nodes
  }

  /** Items up to the `)` closing `open` (consumed), or to the end when `open` is null. */
  private parseItems(open: Token | null): DepNode[] {
    const nodes: DepNode[] = []
    for (;;) {
      const token = this.tokens[this.pos]
      if (token === undefined) {
        if (open) throw this.error(`unclosed '(' (opened at column ${open.column})`, open)
        return nodes
      }
      if (token.text === ')') {
        if (open) this.pos++
        return nodes
      }
      this.pos++
      nodes.push(this.parseItem(token))
    }
  }

  private parseItem(token: Token): DepNode {
    const { text } = token
    if (text === '(') return { kind: 'all-of', children: this.parseItems(token) }
    const group = GROUP_OPERATORS[text]
    if (group !== undefined) {
      if (!ALLOWED_OPERATORS[this.kind].includes(group))
        throw this.error(`'${text}' is not allowed in ${this.kind} strings`, token)
      return { kind: group, children: this.parseGroupBody(token) }
    }
    if (/^(\|\||\^\^|\?\?)./.test(text)) throw this.error(`'${text.slice(0, 2)}' must be followed by whitespace`, token)
    if (text.endsWith('?') || text.includes('?(')) return this.parseUseConditional(token)
    if (text.startsWith('(') || text.endsWith('(') || text.endsWith(')'))
      throw this.error(`parentheses must be separate tokens: '${text}'`, token)
    return this.parseLeaf(token)
  }

  private parseUseConditional(token: Token): DepNode {
    const match = USE_CONDITIONAL.exec(token.text)
    if (!match) throw this.error(`'?' must be followed by whitespace: '${token.text}'`, token)
    const [, bang = '', flag = ''] = match
    if (!isValidUseFlag(flag)) throw this.error(`invalid USE flag in conditional '${token.text}'`, token)
    return { kind: 'use-if', flag, negate: bang === '!', children: this.parseGroupBody(token) }
  }

  /** After `||`, `^^`, `??` or `flag?`: a separate `(` token, then items up to `)`. */
  private parseGroupBody(operator: Token): DepNode[] {
    const open = this.tokens[this.pos]
    if (open?.text !== '(') throw this.error(`'(' expected after '${operator.text}'`, open ?? operator)
    this.pos++
    return this.parseItems(open)
  }

  private parseLeaf(token: Token): DepNode {
    switch (this.kind) {
      case 'depend':
        return { kind: 'atom', atom: this.parseAtomToken(token) }
      case 'license':
        if (!isValidLicenseName(token.text)) throw this.error(`invalid license name '${token.text}'`, token)
        return { kind: 'leaf', value: token.text }
      case 'required-use':
        if (!isValidUseFlag(token.text.replace(/^!/, '')))
          throw this.error(`invalid REQUIRED_USE flag '${token.text}'`, token)
        return { kind: 'leaf', value: token.text }
      case 'src-uri':
        if (token.text === '->') this.checkArrow(token)
        return { kind: 'leaf', value: token.text }
      case 'plain':
        return { kind: 'leaf', value: token.text }
      default:
        return assertNever(this.kind)
    }
  }

  private parseAtomToken(token: Token): Atom {
    try {
      return parseAtom(token.text, { allowBlocker: true })
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      throw this.error(`invalid atom '${token.text}': ${err.message}`, token, err)
    }
  }

  /** `uri -> name` (EAPI 2+): the arrow needs a URI before it and a plain file name after it. */
  private checkArrow(arrow: Token): void {
    const before = this.tokens[this.pos - 2]
    const after = this.tokens[this.pos]
    if (before === undefined || !before.text.includes('://'))
      throw this.error(`'->' must follow a URI`, arrow)
    if (after === undefined || after.text.includes('/') || /^(\(|\)|->)$/.test(after.text) || after.text.endsWith('?'))
      throw this.error(`'->' must be followed by a file name`, after ?? arrow)
  }

  private error(message: string, token: Token, cause?: unknown): OlmError {
    return new OlmError(
      'DEPEND_SYNTAX',
      `${message} at column ${token.column} in "${this.source}"`,
      { column: token.column },
      cause === undefined ? undefined : { cause },
    )
  }
}

function tokenize(s: string): Token[] {
  const tokens: Token[] = []
  for (const match of s.matchAll(/\S+/g)) tokens.push({ text: match[0], column: (match.index ?? 0) + 1 })
  return tokens
}

/** Canonical single-spaced form: `a || ( b c ) flag? ( d )`; empty groups print as `( )`. */
export function formatDepend(nodes: readonly DepNode[]): string {
  return nodes.map(formatNode).join(' ')
}

function formatNode(node: DepNode): string {
  switch (node.kind) {
    case 'atom':
      return formatAtom(node.atom)
    case 'leaf':
      return node.value
    case 'all-of':
      return formatGroup('', node.children)
    case 'any-of':
    case 'exactly-one':
    case 'at-most-one':
      return formatGroup(`${OPERATOR_TOKEN[node.kind]} `, node.children)
    case 'use-if':
      return formatGroup(`${node.negate ? '!' : ''}${node.flag}? `, node.children)
    default:
      return assertNever(node)
  }
}

function formatGroup(prefix: string, children: readonly DepNode[]): string {
  return children.length === 0 ? `${prefix}( )` : `${prefix}( ${formatDepend(children)} )`
}

/** Every node under `nodes`, depth-first in document order, through every USE condition and alternative. */
export function* walkNodes(nodes: readonly DepNode[]): Generator<DepNode> {
  for (const node of nodes) {
    yield node
    if (node.kind !== 'atom' && node.kind !== 'leaf') yield* walkNodes(node.children)
  }
}

/** Every atom under any USE condition and in every alternative, blockers included, in document order. */
export function* walkAtoms(nodes: readonly DepNode[]): Generator<Atom> {
  for (const node of walkNodes(nodes)) if (node.kind === 'atom') yield node.atom
}

/** Every leaf value (`leaf` nodes only), in document order. */
export function* walkLeaves(nodes: readonly DepNode[]): Generator<string> {
  for (const node of walkNodes(nodes)) if (node.kind === 'leaf') yield node.value
}

/** Every license name of a LICENSE string, from all branches, deduplicated, in first-seen order. */
export function licenseNames(s: string): string[] {
  return [...new Set(walkLeaves(parseDepend(s, 'license')))]
}

/** The NAMEs of `mirror://NAME/...` URIs in a SRC_URI string, deduplicated, in first-seen order. */
export function mirrorNames(srcUri: string): string[] {
  const names = new Set<string>()
  for (const value of walkLeaves(parseDepend(srcUri, 'src-uri'))) {
    const match = /^mirror:\/\/([^/]+)/.exec(value)
    if (match?.[1]) names.add(match[1])
  }
  return [...names]
}
