import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { childElements, firstChild, parseXml, textContent, type XmlElement } from '../../../src/pms/xml.js'

/** name(attr=v)[children] — a compact view of a tree for table tests. */
function show(el: XmlElement): string {
  const attrs = [...el.attrs].map(([k, v]) => `${k}=${v}`).join(',')
  const kids = el.children.map((c) => (typeof c === 'string' ? JSON.stringify(c) : show(c))).join(' ')
  return `${el.name}${attrs ? `(${attrs})` : ''}[${kids}]`
}

describe('parseXml', () => {
  it.each<[string, string]>([
    ['<a/>', 'a[]'],
    ['<a></a>', 'a[]'],
    ['\uFEFF<?xml version="1.0"?>\n<!-- c -->\n<a x="1" y=\'2\'>t</a>\n<!-- after -->\n', 'a(x=1,y=2)["t"]'],
    ['<!DOCTYPE a SYSTEM "a.dtd" [ <!ENTITY e "]>"> ]><a/>', 'a[]'],
    ['<a>x<!-- c -->y<?pi z?><b/></a>', 'a["x" "y" b[]]'],
    ['<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;</a>', 'a["<>&\\"\'AB"]'],
    ['<a t="&amp;x&#10;"/>', 'a(t=&x\n)[]'],
    ['<a><![CDATA[<b>&nbsp;</b>]]></a>', 'a["<b>&nbsp;</b>"]'],
    ['<ns:a xmlns:ns="u"><ns:b ></ns:b ></ns:a>', 'ns:a(xmlns:ns=u)[ns:b[]]'],
    ['<a>1 > 0</a>', 'a["1 > 0"]'],
  ])('%j', (text, expected) => {
    expect(show(parseXml(text))).toBe(expected)
  })

  it('records element positions and offers child/text helpers', () => {
    const root = parseXml('<r>\n  <x>one</x>\n  <y><x>two</x></y>\n  <x>th<z/>ree</x>\n</r>')
    expect(childElements(root).map((e) => e.name)).toEqual(['x', 'y', 'x'])
    expect(childElements(root, 'x').map(textContent)).toEqual(['one', 'three'])
    expect(firstChild(root, 'y')).toMatchObject({ line: 3, column: 3 })
    expect(firstChild(root, 'nope')).toBeUndefined()
    expect(textContent(root).replace(/\s+/g, '')).toBe('onetwothree')
  })

  it.each<[string, string, number, number]>([
    ['empty document', '', 1, 1],
    ['text only', 'hello', 1, 1],
    ['two roots', '<a/><b/>', 1, 5],
    ['mismatched end tag', '<a>\n  <b></c>\n</a>', 2, 6],
    ['end tag of the parent', '<a>\n  <b>\n</a>', 3, 1],
    ['unclosed root', '<a>\n', 1, 1],
    ['unknown entity', '<a>\n x &nbsp; y</a>', 2, 4],
    ['bare ampersand', '<a>AT&T</a>', 1, 6],
    ['unquoted attribute', '<a x=1/>', 1, 6],
    ['duplicate attribute', '<a x="1"\n   x="2"/>', 2, 4],
    ['attributes without space', '<a x="1"y="2"/>', 1, 9],
    ['< in attribute', '<a x="<"/>', 1, 6],
    ['unterminated comment', '<a>\n<!-- x</a>', 2, 1],
    ['unterminated CDATA', '<a><![CDATA[x</a>', 1, 4],
    ['bad name', '<1a/>', 1, 2],
    ['unterminated DOCTYPE', '<!DOCTYPE a [ <a/>', 1, 1],
  ])('invalid: %s %j at %i:%i', (_name, text, line, column) => {
    let caught: unknown
    try {
      parseXml(text, 'x.xml')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(OlmError)
    expect((caught as OlmError).code).toBe('METADATA_INVALID')
    expect((caught as OlmError).context).toEqual({ file: 'x.xml', line, column })
  })
})
