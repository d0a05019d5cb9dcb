import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { formatAtom } from '../../../src/pms/atom.js'
import {
  formatDepend,
  licenseNames,
  mirrorNames,
  parseDepend,
  walkAtoms,
  type DepNode,
  type DependKind,
} from '../../../src/pms/depend.js'

function syntaxError(fn: () => unknown): OlmError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OlmError)
    return err as OlmError
  }
  throw new Error('expected a DEPEND_SYNTAX error')
}

/** A compact shape of a tree: atoms as their formatted text, groups as [kind, ...children]. */
function shape(nodes: DepNode[]): unknown[] {
  return nodes.map((n) => {
    switch (n.kind) {
      case 'atom':
        return formatAtom(n.atom)
      case 'leaf':
        return n.value
      case 'use-if':
        return [`${n.negate ? '!' : ''}${n.flag}?`, ...shape(n.children)]
      default:
        return [n.kind, ...shape(n.children)]
    }
  })
}

describe('parseDepend: DEPEND family', () => {
  it.each<[string, unknown[]]>([
    ['', []],
    ['   \n\t ', []],
    ['dev-lang/nim', ['dev-lang/nim']],
    ['  dev-lang/nim\n\tvirtual/pkgconfig  ', ['dev-lang/nim', 'virtual/pkgconfig']],
    // GURU-style atoms (pms.md §4.3–4.6)
    ['~app-backup/kopia-0.23.1', ['~app-backup/kopia-0.23.1']],
    ['=dev-cpp/catch-2*', ['=dev-cpp/catch-2*']],
    ['=dev-lang/ocaml-4.14*:=', ['=dev-lang/ocaml-4.14*:=']],
    ['=dev-lang/rust-bin-1.92.0:*', ['=dev-lang/rust-bin-1.92.0:*']],
    ['dev-libs/openssl:0/1.1 llvm-core/clang:19=', ['dev-libs/openssl:0/1.1', 'llvm-core/clang:19=']],
    ['>=dev-vcs/git-1.8.2.1[curl]', ['>=dev-vcs/git-1.8.2.1[curl]']],
    ['dev-python/foo[python_targets_python3_13(-),-alternatives(-),qt6(+)?]', [
      'dev-python/foo[python_targets_python3_13(-),-alternatives(-),qt6(+)?]',
    ]],
    ['( a-b/c d-e/f )', [['all-of', 'a-b/c', 'd-e/f']]],
    ['|| ( a-b/c d-e/f )', [['any-of', 'a-b/c', 'd-e/f']]],
    ['doc? ( app-text/sphinx )', [['doc?', 'app-text/sphinx']]],
    ['!test? ( a-b/c )', [['!test?', 'a-b/c']]],
    // nested any-of / use-if, the shape of the nimbus BDEPEND
    [
      'dev-lang/nim doc? ( || ( ( dev-lang/python:3.13 dev-python/sphinx[python_targets_python3_13(-)] ) ( dev-lang/python:3.12 ) ) ) >=dev-vcs/git-1.8.2.1[curl]',
      [
        'dev-lang/nim',
        ['doc?', ['any-of', ['all-of', 'dev-lang/python:3.13', 'dev-python/sphinx[python_targets_python3_13(-)]'], ['all-of', 'dev-lang/python:3.12']]],
        '>=dev-vcs/git-1.8.2.1[curl]',
      ],
    ],
    ['a? ( b? ( !c? ( x-y/z ) ) )', [['a?', ['b?', ['!c?', 'x-y/z']]]]],
    // empty groups (accepted like portage; PMS gives || ( ) a meaning)
    ['( )', [['all-of']]],
    ['|| ( )', [['any-of']]],
    ['foo? ( )', [['foo?']]],
  ])('%j', (input, expected) => {
    expect(shape(parseDepend(input))).toEqual(expected)
  })

  it.each<[string, '' | '!' | '!!', string]>([
    ['!!net-misc/frr', '!!', 'frr'],
    ['!~dev-lang/swift-5.10.1:0', '!', 'swift'],
    ['!=net-analyzer/wireshark-4.6.0', '!', 'wireshark'],
    ['!dev-python/pyxattr[python_targets_python3_13(-)?]', '!', 'pyxattr'],
    ['net-misc/frr', '', 'frr'],
  ])('blocker %s', (input, blocker, pn) => {
    const [node] = parseDepend(input)
    expect(node?.kind).toBe('atom')
    if (node?.kind !== 'atom') return
    expect(node.atom.blocker).toBe(blocker)
    expect(node.atom.pn).toBe(pn)
  })

  it.each<[string, number]>([
    // unbalanced parentheses
    ['( a-b/c', 1],
    ['a-b/c ( d-e/f', 7],
    ['a-b/c )', 7],
    ['( a-b/c ) )', 11],
    ['|| ( a-b/c', 4],
    // missing whitespace
    ['foo?( a-b/c )', 1],
    ['foo? (a-b/c )', 6],
    ['(a-b/c)', 1],
    ['( a-b/c)', 3],
    ['||( a-b/c )', 1],
    // missing '(' after an operator or a conditional
    ['|| a-b/c', 4],
    ['a-b/c ||', 7],
    ['foo? a-b/c', 6],
    ['foo?', 1],
    // operators not allowed in DEPEND
    ['^^ ( a-b/c )', 1],
    ['?? ( a-b/c )', 1],
    // bad conditionals
    ['!!foo? ( a-b/c )', 1],
    ['-foo? ( a-b/c )', 1],
    ['? ( a-b/c )', 1],
    // bad atoms
    ['a-b/c notanatom', 7],
    ['a-b/c cat/pkg-1.0', 7],
    ['>=cat/pkg', 1],
    ['a-b/c::guru', 1],
    ['!!!a-b/c', 1],
  ])('invalid %j at column %i', (input, column) => {
    const err = syntaxError(() => parseDepend(input))
    expect(err.code).toBe('DEPEND_SYNTAX')
    expect(err.context.column).toBe(column)
  })

  it('keeps the ATOM_SYNTAX error as cause and names the atom', () => {
    const err = syntaxError(() => parseDepend('dev-lang/nim >=x/y'))
    expect(err.message).toContain('>=x/y')
    expect(err.cause).toBeInstanceOf(OlmError)
    expect((err.cause as OlmError).code).toBe('ATOM_SYNTAX')
  })
})

describe('parseDepend: other kinds', () => {
  it.each<[DependKind, string, unknown[]]>([
    ['license', 'Apache-2.0 BSD', ['Apache-2.0', 'BSD']],
    ['license', '|| ( MIT Apache-2.0 ) doc? ( CC-BY-4.0 ) GPL-2+', [['any-of', 'MIT', 'Apache-2.0'], ['doc?', 'CC-BY-4.0'], 'GPL-2+']],
    ['required-use', '^^ ( a b ) ?? ( c !d ) || ( e f ) g? ( !h )', [
      ['exactly-one', 'a', 'b'], ['at-most-one', 'c', '!d'], ['any-of', 'e', 'f'], ['g?', '!h'],
    ]],
    ['required-use', 'python_targets_python3_13', ['python_targets_python3_13']],
    ['src-uri', 'https://example.org/a-1.tar.gz -> a-1.tgz doc? ( mirror://npm/b/-/b-2.tgz )', [
      'https://example.org/a-1.tar.gz', '->', 'a-1.tgz', ['doc?', 'mirror://npm/b/-/b-2.tgz'],
    ]],
    ['src-uri', 'plain-file.tar.gz', ['plain-file.tar.gz']],
    ['plain', 'test? ( test ) mirror strip', [['test?', 'test'], 'mirror', 'strip']],
  ])('%s %j', (kind, input, expected) => {
    expect(shape(parseDepend(input, kind))).toEqual(expected)
  })

  it.each<[DependKind, string, number]>([
    ['license', 'MIT -GPL', 5],
    ['license', '!MIT', 1],
    ['license', '^^ ( MIT BSD )', 1],
    ['required-use', 'a -b', 3],
    ['required-use', '!!a', 1],
    ['src-uri', '|| ( https://a/b )', 1],
    ['src-uri', '-> b.tgz', 1],
    ['src-uri', 'https://a/b.tgz ->', 17],
    ['src-uri', 'https://a/b.tgz -> ( c )', 20],
    ['src-uri', 'https://a/b.tgz -> sub/c.tgz', 20],
    ['plain', '|| ( a b )', 1],
    ['plain', 'a ( b', 3],
  ])('%s: invalid %j at column %i', (kind, input, column) => {
    const err = syntaxError(() => parseDepend(input, kind))
    expect(err.code).toBe('DEPEND_SYNTAX')
    expect(err.context.column).toBe(column)
  })
})

describe('formatDepend', () => {
  it.each<[DependKind, string, string]>([
    ['depend', 'a-b/c', 'a-b/c'],
    ['depend', '  ||   (\n a-b/c\td-e/f )  ', '|| ( a-b/c d-e/f )'],
    ['depend', '!foo? ( ( a-b/c ) !!x-y/z:2= )', '!foo? ( ( a-b/c ) !!x-y/z:2= )'],
    ['depend', '|| ( ) foo? ( )', '|| ( ) foo? ( )'],
    ['required-use', '^^ ( a b ) ?? ( c d )', '^^ ( a b ) ?? ( c d )'],
    ['src-uri', 'https://a/b.tgz   ->  c.tgz', 'https://a/b.tgz -> c.tgz'],
  ])('%s %j → %j', (kind, input, expected) => {
    const formatted = formatDepend(parseDepend(input, kind))
    expect(formatted).toBe(expected)
    expect(formatDepend(parseDepend(formatted, kind))).toBe(formatted)
  })
})

describe('walkAtoms, licenseNames, mirrorNames', () => {
  it('yields every atom under every condition and alternative, blockers included, in order', () => {
    const tree = parseDepend('a-a/one x? ( || ( b-b/two !x? ( c-c/three ) ) ) !!d-d/four ( e-e/five )')
    expect([...walkAtoms(tree)].map((a) => a.pn)).toEqual(['one', 'two', 'three', 'four', 'five'])
  })

  it.each<[string, string[]]>([
    ['', []],
    ['MIT', ['MIT']],
    ['|| ( MIT Apache-2.0 ) doc? ( CC-BY-4.0 MIT ) !bin? ( GPL-2 ) MIT', ['MIT', 'Apache-2.0', 'CC-BY-4.0', 'GPL-2']],
  ])('licenseNames(%j)', (input, names) => {
    expect(licenseNames(input)).toEqual(names)
  })

  it('licenseNames rejects a malformed LICENSE', () => {
    expect(syntaxError(() => licenseNames('|| ( MIT')).code).toBe('DEPEND_SYNTAX')
  })

  it.each<[string, string[]]>([
    ['', []],
    ['https://example.org/a.tgz', []],
    ['mirror://npm/@a/b/-/b-1.tgz -> npm-b-1.tgz doc? ( mirror://cran/src/x.tar.gz ) mirror://npm/c/-/c-2.tgz', ['npm', 'cran']],
    ['mirror://gentoo/foo.tgz', ['gentoo']],
  ])('mirrorNames(%j)', (input, names) => {
    expect(mirrorNames(input)).toEqual(names)
  })
})
