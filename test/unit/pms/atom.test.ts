import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import {
  atomKey,
  atomMatches,
  formatAtom,
  parseAtom,
  tryParseAtom,
  type Atom,
  type AtomCandidate,
  type ParseAtomOptions,
} from '../../../src/pms/atom.js'
import { parseVersion } from '../../../src/pms/version.js'

const ALL: ParseAtomOptions = { allowBlocker: true, allowRepo: true }

/** Valid atoms and the fields they must parse to (besides the version, checked via raw). */
const VALID: [string, ParseAtomOptions, Partial<Atom> & { pv?: string }][] = [
  ['dev-libs/libfoo', {}, { category: 'dev-libs', pn: 'libfoo', op: '', blocker: '', glob: false }],
  ['app-misc/foo-bar', {}, { pn: 'foo-bar' }],
  ['app-misc/foo-r1', {}, { pn: 'foo-r1' }],
  ['app-misc/foo+', {}, { pn: 'foo+' }],
  ['=app-misc/foo-1.0', {}, { op: '=', pv: '1.0' }],
  ['=app-misc/foo-bar-1.0_rc2-r3', {}, { op: '=', pn: 'foo-bar', pv: '1.0_rc2-r3' }],
  ['<app-misc/foo-2', {}, { op: '<', pv: '2' }],
  ['<=app-misc/foo-2', {}, { op: '<=', pv: '2' }],
  ['>app-misc/foo-2', {}, { op: '>', pv: '2' }],
  ['>=app-misc/foo-2.0-r1', {}, { op: '>=', pv: '2.0-r1' }],
  ['~app-misc/foo-2.0', {}, { op: '~', pv: '2.0' }],
  ['=app-misc/foo-1*', {}, { op: '=', glob: true, pv: '1' }],
  ['=app-misc/foo-1.0-r0', {}, { op: '=', pv: '1.0-r0' }],
  // GURU examples, pms.md §4.3/§4.4/§4.5
  ['~app-backup/kopia-0.23.1', {}, { op: '~', category: 'app-backup', pn: 'kopia', pv: '0.23.1' }],
  ['=dev-cpp/catch-2*', {}, { op: '=', glob: true, pn: 'catch', pv: '2' }],
  ['=dev-lang/ocaml-4.14*:=', {}, { glob: true, pv: '4.14', slotOp: '=' }],
  ['=dev-lang/rust-bin-1.92.0:*', {}, { pn: 'rust-bin', pv: '1.92.0', slotOp: '*' }],
  ['!!net-misc/frr', ALL, { blocker: '!!', pn: 'frr' }],
  ['!~dev-lang/swift-5.10.1:0', ALL, { blocker: '!', op: '~', pv: '5.10.1', slot: '0' }],
  ['!=net-analyzer/wireshark-4.6.0', ALL, { blocker: '!', op: '=', pv: '4.6.0' }],
  ['!dev-python/pyxattr[python_targets_python3_13(-)?]', ALL,
    { blocker: '!', useDeps: [{ prefix: '', flag: 'python_targets_python3_13', default: '(-)', suffix: '?' }] }],
  ['dev-libs/openssl:0/1.1', {}, { slot: '0', subSlot: '1.1' }],
  ['llvm-core/clang:19=', {}, { slot: '19', slotOp: '=' }],
  ['dev-libs/libpcre2:*', {}, { slotOp: '*' }],
  ['dev-libs/libfoo:2', {}, { slot: '2' }],
  ['dev-libs/libfoo:=', {}, { slotOp: '=' }],
  ['dev-libs/libfoo:0/1.1=', {}, { slot: '0', subSlot: '1.1', slotOp: '=' }],
  ['dev-lang/python:3.13', {}, { slot: '3.13' }],
  // repository dependencies (§4.7), only with allowRepo
  ['dev-nim/nimbus::guru', { allowRepo: true }, { repo: 'guru' }],
  ['=app-misc/ghq-1*::guru', { allowRepo: true }, { glob: true, repo: 'guru', pv: '1' }],
  ['>=dev-libs/libfoo-1.2:2/2.1=::my_repo[foo,-bar]', ALL,
    { pv: '1.2', slot: '2', subSlot: '2.1', slotOp: '=', repo: 'my_repo', useDeps: [
      { prefix: '', flag: 'foo', default: '', suffix: '' }, { prefix: '-', flag: 'bar', default: '', suffix: '' }] }],
  // every legal USE dependency shape (§4.6), with and without defaults
  ['dev-libs/foo[a,-b,c=,!d=,e?,!f?]', {}, { useDeps: [
    { prefix: '', flag: 'a', default: '', suffix: '' },
    { prefix: '-', flag: 'b', default: '', suffix: '' },
    { prefix: '', flag: 'c', default: '', suffix: '=' },
    { prefix: '!', flag: 'd', default: '', suffix: '=' },
    { prefix: '', flag: 'e', default: '', suffix: '?' },
    { prefix: '!', flag: 'f', default: '', suffix: '?' }] }],
  ['dev-libs/foo[a(+),-b(-),c(+)=,!d(-)=,e(+)?,!f(-)?]', {}, { useDeps: [
    { prefix: '', flag: 'a', default: '(+)', suffix: '' },
    { prefix: '-', flag: 'b', default: '(-)', suffix: '' },
    { prefix: '', flag: 'c', default: '(+)', suffix: '=' },
    { prefix: '!', flag: 'd', default: '(-)', suffix: '=' },
    { prefix: '', flag: 'e', default: '(+)', suffix: '?' },
    { prefix: '!', flag: 'f', default: '(-)', suffix: '?' }] }],
  ['dev-qt/qtbase:6[gui,widgets]', {}, { slot: '6' }],
  ['media-libs/x[qt6(+)]', {}, {}],
  ['dev-python/x[-alternatives(-)]', {}, {}],
  ['dev-libs/foo[a+b,c@d,3d,x-y]', {}, {}],
  ['virtual/rust:=', {}, { category: 'virtual', pn: 'rust', slotOp: '=' }],
  ['!<sys-apps/foo-1.0_p1[-bar]', ALL, { blocker: '!', op: '<', pv: '1.0_p1' }],
  ['!!>=sys-apps/foo-1::gentoo', ALL, { blocker: '!!', op: '>=', repo: 'gentoo', pv: '1' }],
  ['>=app-misc/foo-9007199254740993', {}, { pv: '9007199254740993' }],
]

describe('parseAtom: valid atoms', () => {
  it.each(VALID)('%s', (s, opts, { pv, ...fields }) => {
    const atom = parseAtom(s, opts)
    expect(atom).toMatchObject(fields)
    expect(atom.version?.raw).toBe(pv)
    expect(atom.op === '').toBe(atom.version === undefined)
    expect(tryParseAtom(s, opts)).toEqual(atom)
  })

  it.each(VALID)('round-trips %s through formatAtom', (s, opts) => {
    expect(formatAtom(parseAtom(s, opts))).toBe(s)
  })

  it('leaves absent parts undefined', () => {
    expect(parseAtom('dev-libs/libfoo')).toEqual({ blocker: '', op: '', glob: false, category: 'dev-libs', pn: 'libfoo' })
  })
})

/** [atom, options, 1-based column of the offending part]. */
const INVALID: [string, ParseAtomOptions, number][] = [
  ['', {}, 1],
  ['foo', {}, 1],
  ['/foo', {}, 1],
  ['-cat/foo', {}, 1],
  ['cat/', {}, 5],
  ['cat/foo.bar', {}, 5],
  ['cat/-foo', {}, 5],
  ['cat/foo bar', {}, 5],
  // version without operator, operator without version
  ['cat/foo-1.0', {}, 5],
  ['cat/foo-1.0-r1', {}, 5],
  ['=cat/foo', {}, 6],
  ['>=cat/foo', {}, 7],
  ['~cat/foo:2', {}, 6],
  ['=cat/foo-1.0A', {}, 6],
  ['=cat/foo-1.0-', {}, 6],
  ['=cat/foo-2-1.0', {}, 6],
  ['==cat/foo-1', {}, 2],
  ['=<cat/foo-1', {}, 2],
  // '*' only with '=' and a version
  ['>=cat/foo-1*', {}, 12],
  ['~cat/foo-1*', {}, 11],
  ['<cat/foo-1*', {}, 11],
  ['cat/foo*', {}, 8],
  ['cat/foo-1*', {}, 10],
  ['=cat/foo-1**', {}, 6],
  ['=cat/foo*', {}, 6],
  // blockers
  ['!cat/foo', {}, 1],
  ['!!cat/foo', { allowRepo: true }, 1],
  ['!!!cat/foo', ALL, 3],
  // repository only with allowRepo, and must be a valid repo name after the slot
  ['cat/foo::guru', {}, 8],
  ['cat/foo::guru', { allowBlocker: true }, 8],
  ['cat/foo::', ALL, 10],
  ['cat/foo::local-1', ALL, 10],
  ['cat/foo::guru:2', ALL, 10],
  ['cat/foo:2::', ALL, 12],
  // slot forms
  ['cat/foo:', {}, 9],
  ['cat/foo:-1', {}, 9],
  ['cat/foo:1/', {}, 11],
  ['cat/foo:/1', {}, 9],
  ['cat/foo:1/2/3', {}, 9],
  ['cat/foo:*=', {}, 9],
  ['cat/foo:=*', {}, 9],
  ['cat/foo:2*', {}, 9],
  ['cat/foo:2==', {}, 9],
  ['cat/foo:a b', {}, 9],
  // USE dependencies
  ['cat/foo[]', {}, 8],
  ['cat/foo[', {}, 8],
  ['cat/foo[a', {}, 8],
  ['cat/foo[a]:2', {}, 8],
  ['cat/foo[a]x', {}, 8],
  ['cat/foo[a][b]', {}, 9],
  ['cat/foo[-a?]', {}, 9],
  ['cat/foo[!a]', {}, 9],
  ['cat/foo[-a=]', {}, 9],
  ['cat/foo[a,-b?]', {}, 11],
  ['cat/foo[a,,b]', {}, 11],
  ['cat/foo[a,]', {}, 11],
  ['cat/foo[a b]', {}, 9],
  ['cat/foo[_a]', {}, 9],
  ['cat/foo[a(+-)]', {}, 9],
  ['cat/foo[a?(+)]', {}, 9],
  ['cat/foo[(+)a]', {}, 9],
  ['cat/foo[a(x)]', {}, 9],
  ['cat/foo[!-a]', {}, 9],
  ['cat/foo[a=?]', {}, 9],
  ['cat/foo::guru[a]:2', ALL, 14],
]

describe('parseAtom: invalid atoms', () => {
  it.each(INVALID)('rejects %j (%o) at column %i', (s, opts, column) => {
    let error: unknown
    try {
      parseAtom(s, opts)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(OlmError)
    expect((error as OlmError).code).toBe('ATOM_SYNTAX')
    expect((error as OlmError).context.column).toBe(column)
    expect((error as OlmError).message).toContain(`"${s}"`)
    expect(tryParseAtom(s, opts)).toBeNull()
  })
})

const candidate = (version: string, extra: Partial<AtomCandidate> = {}): AtomCandidate => ({
  category: 'cat',
  pn: 'pkg',
  version: parseVersion(version),
  ...extra,
})

/** [atom, versions it matches, versions it does not match]. */
const MATCHES: [string, string[], string[]][] = [
  ['cat/pkg', ['0', '1', '9999', '1.0-r5'], []],
  ['=cat/pkg-1.2', ['1.2', '1.2-r0', '01.2', '1.2-r00'], ['1.2-r1', '1.2.0', '1.3', '1.1']],
  ['=cat/pkg-1.0', ['1.0', '1.00', '1.0-r0'], ['1.0-r1', '1.0.0', '1.0a']],
  ['=cat/pkg-1.2-r1', ['1.2-r1', '1.2-r01'], ['1.2', '1.2-r2']],
  ['~cat/pkg-1.2', ['1.2', '1.2-r0', '1.2-r5', '1.2-r10'], ['1.2.1', '1.3', '1.1', '1.2a', '1.2_p1', '1.20']],
  ['~cat/pkg-1.2-r3', ['1.2', '1.2-r1', '1.2-r9'], ['1.3']],
  ['<cat/pkg-1.2', ['1.1', '1.2_rc1', '1.1.9', '0'], ['1.2', '1.2-r1', '1.2.0', '1.3']],
  ['<=cat/pkg-1.2', ['1.1', '1.2', '1.2-r0', '1.2_rc1'], ['1.2-r1', '1.2_p1', '1.2.0']],
  ['>cat/pkg-1.2', ['1.2-r1', '1.2.0', '1.2_p1', '2'], ['1.2', '1.2-r0', '1.1', '1.2_rc9']],
  ['>=cat/pkg-1.2', ['1.2', '1.2-r1', '1.3', '9999'], ['1.1', '1.2_rc1', '1.1.99']],
  // =* with portage's boundary rule (pms.md §4.3)
  ['=cat/pkg-1*', ['1', '1.5', '1_rc1', '1-r3', '1a', '1.0.0', '01', '001.2'], ['10', '2', '0', '11.1']],
  ['=cat/pkg-1.2*', ['1.2', '1.2.3', '1.2a', '1.2-r1', '1.2_p1', '01.2.3'], ['1.20', '1.3', '1.02', '1.21.1', '1']],
  ['=cat/pkg-2*', ['2', '2.0.1', '2_beta'], ['20', '1.9', '12']],
  ['=cat/pkg-0*', ['0', '0.1', '00', '0_pre20240208'], ['1', '10']],
  ['=cat/pkg-1.0-r1*', ['1.0-r1', '01.0-r1'], ['1.0-r12', '1.0', '1.0-r2']],
  // a pattern ending in a letter or suffix name: only - and _ (or a digit after a letter) end a component
  ['=cat/pkg-1.0a*', ['1.0a', '1.0a_p1', '1.0a-r1'], ['1.0', '1.0b', '1.0.1']],
  ['=cat/pkg-1.0_rc*', ['1.0_rc', '1.0_rc1', '1.0_rc_p1', '1.0_rc-r2', '1.0_rc2-r1'], ['1.0', '1.0_p1', '1.0_pre1']],
  ['=cat/pkg-1.0_p*', ['1.0_p', '1.0_p3', '1.0_p_alpha'], ['1.0_pre1', '1.0']],
  ['>=cat/pkg-9007199254740992', ['9007199254740993', '9007199254740992-r1'], ['9007199254740991']],
]

describe('atomMatches: versions', () => {
  describe.each(MATCHES)('%s', (atomText, yes, no) => {
    const atom = parseAtom(atomText)
    it.each(yes)('matches %s', (v) => expect(atomMatches(atom, candidate(v))).toBe(true))
    it.each(no)('does not match %s', (v) => expect(atomMatches(atom, candidate(v))).toBe(false))
  })

  it('requires the same category and package name', () => {
    const atom = parseAtom('cat/pkg')
    expect(atomMatches(atom, { ...candidate('1'), category: 'other' })).toBe(false)
    expect(atomMatches(atom, { ...candidate('1'), pn: 'pkg2' })).toBe(false)
    expect(atomMatches(atom, { ...candidate('1'), pn: 'Pkg' })).toBe(false)
  })
})

describe('atomMatches: slots and repositories', () => {
  it.each([
    ['cat/pkg:2', { slot: '2' }, true],
    ['cat/pkg:2', { slot: '3' }, false],
    ['cat/pkg:2', {}, true], // slot unknown: not checked
    ['cat/pkg:2', { slot: '2', subSlot: '9' }, true],
    ['cat/pkg:0/1.1', { slot: '0', subSlot: '1.1' }, true],
    ['cat/pkg:0/1.1', { slot: '0', subSlot: '3' }, false],
    ['cat/pkg:0/1.1', { slot: '1', subSlot: '1.1' }, false],
    ['cat/pkg:0/0', { slot: '0' }, true], // no sub-slot means sub-slot = slot
    ['cat/pkg:0/1.1', { slot: '0' }, false],
    ['cat/pkg:2=', { slot: '2' }, true],
    ['cat/pkg:2=', { slot: '1' }, false],
    ['cat/pkg:*', { slot: '7' }, true],
    ['cat/pkg:=', { slot: '7' }, true],
    ['cat/pkg', { slot: '7', repo: 'x' }, true],
    ['cat/pkg::guru', { repo: 'guru' }, true],
    ['cat/pkg::guru', { repo: 'gentoo' }, false],
    ['cat/pkg::guru', {}, false],
    ['=cat/pkg-1*:2::guru', { slot: '2', repo: 'guru' }, true],
    ['=cat/pkg-1*:2::guru', { slot: '3', repo: 'guru' }, false],
  ] as [string, Partial<AtomCandidate>, boolean][])('%s vs %o → %s', (atomText, extra, expected) => {
    expect(atomMatches(parseAtom(atomText, ALL), candidate('1.0', extra))).toBe(expected)
  })

  it('ignores blockers and USE dependencies', () => {
    expect(atomMatches(parseAtom('!!cat/pkg[foo,-bar]', ALL), candidate('1'))).toBe(true)
    expect(atomMatches(parseAtom('!<cat/pkg-2', ALL), candidate('1'))).toBe(true)
  })
})

describe('atomKey', () => {
  it('joins category and package name', () => {
    expect(atomKey(parseAtom('>=dev-libs/libfoo-1.2:2[x]'))).toBe('dev-libs/libfoo')
    expect(atomKey({ category: 'a', pn: 'b' })).toBe('a/b')
  })
})
