import { describe, expect, it } from 'vitest'
import { OlmError, type ErrorCode } from '../../../src/errors.js'
import { formatAtom } from '../../../src/pms/atom.js'
import {
  parseCategories,
  parseLicenseGroups,
  parseLineFile,
  parsePackageMask,
  parseThirdPartyMirrors,
} from '../../../src/pms/profiles.js'

function expectError(fn: () => unknown, code: ErrorCode, where: Record<string, unknown>): void {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(OlmError)
  expect((caught as OlmError).code).toBe(code)
  expect((caught as OlmError).context).toMatchObject(where)
}

describe('parseLineFile', () => {
  it.each<[string, { line: number; text: string }[]]>([
    ['', []],
    ['a\nb\n', [{ line: 1, text: 'a' }, { line: 2, text: 'b' }]],
    ['# c\n\n  x  \n', [{ line: 3, text: 'x' }]],
    ['  # indented comment\nx', [{ line: 2, text: 'x' }]],
    ['a   b\tc', [{ line: 1, text: 'a b c' }]],
    ['a b # inline comment\nc#d', [{ line: 1, text: 'a b' }, { line: 2, text: 'c#d' }]],
  ])('%j', (text, lines) => {
    expect(parseLineFile(text)).toEqual(lines)
  })
})

describe('parseCategories', () => {
  it.each<[string, string[]]>([
    ['app-voices\ndev-nim\n# comment\n\nmpv-plugin\n', ['app-voices', 'dev-nim', 'mpv-plugin']],
    ['dev-nim\ndev-nim\n', ['dev-nim']],
    ['virtual\n_x\nfoo.bar+\n', ['virtual', '_x', 'foo.bar+']],
    ['', []],
  ])('%j', (text, categories) => {
    expect(parseCategories(text)).toEqual(categories)
  })

  it.each<[string, number, number]>([
    ['dev-nim\n-bad\n', 2, 1],
    ['dev-nim\n\n  .hidden\n', 3, 3],
    ['dev-nim dev-zig\n', 1, 9],
    ['a/b\n', 1, 1],
  ])('invalid %j (line %i, column %i)', (text, line, column) => {
    expectError(() => parseCategories(text, 'profiles/categories'), 'NAME_SYNTAX', { file: 'profiles/categories', line, column })
  })
})

const MASK = `# Header of the file: not attached to anything

# Jane Doe <jane@example.org> (2025-01-01)
# Broken with the new toolchain.
# Removal on 2025-02-01.
dev-nim/foo
>=dev-nim/bar-2.0:1::guru

-app-misc/unmasked
# One-liner
=app-misc/baz-1*
`

describe('parsePackageMask', () => {
  it('reads atoms with their comment blocks', () => {
    const entries = parsePackageMask(MASK)
    expect(entries.map((e) => [formatAtom(e.atom), e.line, e.negated, e.raw])).toEqual([
      ['dev-nim/foo', 6, false, 'dev-nim/foo'],
      ['>=dev-nim/bar-2.0:1::guru', 7, false, '>=dev-nim/bar-2.0:1::guru'],
      ['app-misc/unmasked', 9, true, '-app-misc/unmasked'],
      ['=app-misc/baz-1*', 11, false, '=app-misc/baz-1*'],
    ])
    const block = ['# Jane Doe <jane@example.org> (2025-01-01)', '# Broken with the new toolchain.', '# Removal on 2025-02-01.']
    expect(entries[0]?.comment).toEqual(block)
    expect(entries[1]?.comment).toEqual(block) // same group, no blank line between
    expect(entries[2]?.comment).toEqual([])
    expect(entries[3]?.comment).toEqual(['# One-liner'])
    expect(entries[1]?.atom.repo).toBe('guru')
  })

  it.each<[string, number]>([
    ['', 0],
    ['# only comments\n\n', 0],
    ['  dev-nim/foo  \n', 1],
    ['dev-nim/foo # why\n', 1],
  ])('%j has %i entries', (text, count) => {
    expect(parsePackageMask(text)).toHaveLength(count)
  })

  it.each<[string, number, number]>([
    ['dev-nim/foo\nnot-an-atom\n', 2, 1],
    ['# c\n  !dev-nim/foo\n', 2, 3],
    ['dev-nim/foo dev-nim/bar\n', 1, 1],
    ['>=dev-nim/foo\n', 1, 1],
    ['--dev-nim/foo\n', 1, 1],
  ])('invalid %j → line %i, column %i', (text, line, column) => {
    expectError(() => parsePackageMask(text, 'profiles/package.mask'), 'ATOM_SYNTAX', {
      file: 'profiles/package.mask',
      line,
      column,
    })
  })
})

describe('parseLicenseGroups', () => {
  it.each<[string, [string, string[]][]]>([
    ['OPEN-CONTENT CC-BY-2.0 CC-BY-SA-4.0\n', [['OPEN-CONTENT', ['CC-BY-2.0', 'CC-BY-SA-4.0']]]],
    ['# c\nFREE @FSF-APPROVED @OSI-APPROVED MIT\n', [['FREE', ['@FSF-APPROVED', '@OSI-APPROVED', 'MIT']]]],
    ['A x\nB y\nA z\n', [['A', ['x', 'z']], ['B', ['y']]]],
    ['EMPTY\n', [['EMPTY', []]]],
    ['', []],
  ])('%j', (text, groups) => {
    expect([...parseLicenseGroups(text)]).toEqual(groups)
  })

  it.each<[string, number, number]>([
    ['FREE MIT -BSD\n', 1, 10],
    ['\n@FREE MIT\n', 2, 1],
    ['FREE MIT @\n', 1, 10],
    ['FREE MIT @@X\n', 1, 10],
  ])('invalid %j (line %i, column %i)', (text, line, column) => {
    expectError(() => parseLicenseGroups(text, 'profiles/license_groups'), 'NAME_SYNTAX', { line, column })
  })
})

describe('parseThirdPartyMirrors', () => {
  it.each<[string, [string, string[]][]]>([
    [
      'cran https://cloud.r-project.org https://cran.example.org/\nnpm https://registry.npmjs.org\n',
      [['cran', ['https://cloud.r-project.org', 'https://cran.example.org/']], ['npm', ['https://registry.npmjs.org']]],
    ],
    ['zef https://a\n# c\nzef https://b\n', [['zef', ['https://a', 'https://b']]]],
    ['lonely\nx https://x\n', [['x', ['https://x']]]],
    ['', []],
  ])('%j', (text, mirrors) => {
    expect([...parseThirdPartyMirrors(text)]).toEqual(mirrors)
  })

  it.each<[string, number, number]>([
    ['ok https://a\n  https://b https://c\n', 2, 3],
    ['mirror://npm https://a\n', 1, 1],
  ])('invalid %j (line %i, column %i)', (text, line, column) => {
    expectError(() => parseThirdPartyMirrors(text, 'profiles/thirdpartymirrors'), 'METADATA_INVALID', { line, column })
  })
})
