/**
 * A small non-validating XML reader, enough for repositories.xml and
 * metadata.xml: elements, attributes, text, CDATA, the five predefined
 * entities and character references. Comments, processing instructions and
 * the DOCTYPE (internal subset included) are skipped; namespaces are not
 * interpreted (a prefixed name is just a name). Well-formedness errors throw
 * OlmError('METADATA_INVALID', …, {file, line, column}).
 */
import { OlmError } from '../errors.js'

export interface XmlElement {
  name: string
  attrs: Map<string, string>
  /** Child elements and text pieces (entities decoded), in document order. */
  children: XmlNode[]
  /** 1-based position of the `<` that opens the element. */
  line: number
  column: number
}

export type XmlNode = XmlElement | string

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y
const PREDEFINED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

/** Parses a document and returns its root element. */
export function parseXml(text: string, file?: string): XmlElement {
  return new XmlReader(text.replace(/^\uFEFF/, ''), file).document()
}

/** Child elements of `el`, optionally only those called `name`. */
export function childElements(el: XmlElement, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name))
}

/** The first child element called `name`, or undefined. */
export function firstChild(el: XmlElement, name: string): XmlElement | undefined {
  return childElements(el, name)[0]
}

/** All text below `el`, concatenated in document order (not trimmed). */
export function textContent(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textContent(c))).join('')
}

class XmlReader {
  private pos = 0

  constructor(
    private readonly src: string,
    private readonly file: string | undefined,
  ) {}

  document(): XmlElement {
    this.skipMisc(true)
    if (!this.src.startsWith('<', this.pos)) throw this.error('expected the root element')
    const root = this.element()
    this.skipMisc(false)
    if (this.pos < this.src.length) throw this.error('content after the root element')
    return root
  }

  /** Whitespace, comments, processing instructions and (before the root) a DOCTYPE. */
  private skipMisc(allowDoctype: boolean): void {
    for (;;) {
      while (/\s/.test(this.src.charAt(this.pos))) this.pos++
      if (this.src.startsWith('<!--', this.pos)) this.skipPast('-->', 'comment')
      else if (this.src.startsWith('<?', this.pos)) this.skipPast('?>', 'processing instruction')
      else if (allowDoctype && this.src.startsWith('<!DOCTYPE', this.pos)) this.skipDoctype()
      else return
    }
  }

  private skipPast(terminator: string, what: string): void {
    const end = this.src.indexOf(terminator, this.pos)
    if (end < 0) throw this.error(`unterminated ${what}`)
    this.pos = end + terminator.length
  }

  private skipDoctype(): void {
    const start = this.pos
    let depth = 0
    for (; this.pos < this.src.length; this.pos++) {
      const ch = this.src.charAt(this.pos)
      if (ch === '"' || ch === "'") {
        const close = this.src.indexOf(ch, this.pos + 1)
        if (close < 0) break
        this.pos = close
      } else if (ch === '[') depth++
      else if (ch === ']') depth--
      else if (ch === '>' && depth === 0) {
        this.pos++
        return
      }
    }
    this.pos = start
    throw this.error('unterminated DOCTYPE')
  }

  private element(): XmlElement {
    const start = this.pos
    const { line, column } = this.position(start)
    this.pos++ // '<'
    const name = this.name()
    const attrs = this.attributes()
    const el: XmlElement = { name, attrs, children: [], line, column }
    if (this.src.startsWith('/>', this.pos)) {
      this.pos += 2
      return el
    }
    this.expect('>')
    this.content(el, start)
    return el
  }

  private attributes(): Map<string, string> {
    const attrs = new Map<string, string>()
    for (;;) {
      const hadSpace = this.skipSpace()
      const ch = this.src.charAt(this.pos)
      if (ch === '>' || ch === '/' || ch === '') return attrs
      if (!hadSpace) throw this.error('whitespace expected before attribute')
      const at = this.pos
      const name = this.name()
      this.skipSpace()
      this.expect('=')
      this.skipSpace()
      if (attrs.has(name)) throw this.error(`duplicate attribute '${name}'`, at)
      attrs.set(name, this.quoted())
    }
  }

  private quoted(): string {
    const quote = this.src.charAt(this.pos)
    if (quote !== '"' && quote !== "'") throw this.error('quoted attribute value expected')
    const end = this.src.indexOf(quote, this.pos + 1)
    if (end < 0) throw this.error('unterminated attribute value')
    const raw = this.src.slice(this.pos + 1, end)
    if (raw.includes('<')) throw this.error("'<' in attribute value")
    const value = this.decode(raw, this.pos + 1)
    this.pos = end + 1
    return value
  }

  /** Children up to and including the matching end tag; an unclosed element is reported where it opens. */
  private content(el: XmlElement, start: number): void {
    for (;;) {
      const lt = this.src.indexOf('<', this.pos)
      if (lt < 0) throw this.error(`element <${el.name}> is not closed`, start)
      if (lt > this.pos) el.children.push(this.decode(this.src.slice(this.pos, lt), this.pos))
      this.pos = lt
      if (this.src.startsWith('</', lt)) return this.endTag(el)
      if (this.src.startsWith('<!--', lt)) this.skipPast('-->', 'comment')
      else if (this.src.startsWith('<?', lt)) this.skipPast('?>', 'processing instruction')
      else if (this.src.startsWith('<![CDATA[', lt)) el.children.push(this.cdata())
      else el.children.push(this.element())
    }
  }

  private endTag(el: XmlElement): void {
    const at = this.pos
    this.pos += 2
    const name = this.name()
    this.skipSpace()
    this.expect('>')
    if (name !== el.name) throw this.error(`</${name}> does not close <${el.name}> (line ${el.line})`, at)
  }

  private cdata(): string {
    const start = this.pos + '<![CDATA['.length
    const end = this.src.indexOf(']]>', start)
    if (end < 0) throw this.error('unterminated CDATA section')
    this.pos = end + 3
    return this.src.slice(start, end)
  }

  private decode(raw: string, offset: number): string {
    return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string, index: number) => {
      const value = whole.endsWith(';') ? resolveReference(ref) : undefined
      if (value === undefined) throw this.error(`bad entity reference '${whole}'`, offset + index)
      return value
    })
  }

  private name(): string {
    NAME.lastIndex = this.pos
    const match = NAME.exec(this.src)
    if (!match) throw this.error('name expected')
    this.pos += match[0].length
    return match[0]
  }

  private skipSpace(): boolean {
    const start = this.pos
    while (/\s/.test(this.src.charAt(this.pos))) this.pos++
    return this.pos > start
  }

  private expect(ch: string): void {
    if (this.src.charAt(this.pos) !== ch) throw this.error(`'${ch}' expected`)
    this.pos++
  }

  // Line counting resumes from the last position asked for: elements are met in
  // document order, so the whole document is scanned once, not once per element.
  private lineCursor = { offset: 0, line: 1, lineStart: 0 }

  private position(offset: number): { line: number; column: number } {
    const c = offset >= this.lineCursor.offset ? this.lineCursor : { offset: 0, line: 1, lineStart: 0 }
    for (let i = this.src.indexOf('\n', c.offset); i !== -1 && i < offset; i = this.src.indexOf('\n', i + 1)) {
      c.line++
      c.lineStart = i + 1
    }
    c.offset = offset
    if (c === this.lineCursor || offset >= this.lineCursor.offset) this.lineCursor = c
    return { line: c.line, column: offset - c.lineStart + 1 }
  }

  private error(message: string, offset = this.pos): OlmError {
    const { line, column } = this.position(offset)
    const found = this.src.slice(offset, offset + 20).split('\n')[0]
    return new OlmError('METADATA_INVALID', `XML: ${message} at ${line}:${column} near '${found}'`, {
      file: this.file,
      line,
      column,
    })
  }
}

function resolveReference(ref: string): string | undefined {
  const named = PREDEFINED_ENTITIES[ref]
  if (named !== undefined) return named
  const match = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref)
  if (!match) return undefined
  const code = match[1] !== undefined ? Number.parseInt(match[1], 16) : Number(match[2])
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : undefined
}
