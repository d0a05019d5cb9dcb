import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { parseReposConf, reposConfFileOrder } from '../../../src/pms/reposconf.js'

// Like portage's shipped cnf/repos.conf (abridged) and what eselect-repository writes.
const SHIPPED = {
  path: '/usr/share/portage/config/repos.conf',
  text: `[DEFAULT]
main-repo = gentoo

[gentoo]
location = /var/db/repos/gentoo
sync-type = rsync
sync-uri = rsync://rsync.gentoo.org/gentoo-portage
auto-sync = yes
`,
}
const ESELECT = {
  path: '/etc/portage/repos.conf/eselect-repo.conf',
  text: `# created by eselect-repo

[guru]
location = /var/db/repos/guru
sync-type = git
sync-uri = https://github.com/gentoo-mirror/guru.git
`,
}

describe('parseReposConf', () => {
  it('merges files in order, later keys overriding earlier ones', () => {
    const local = {
      path: '/etc/portage/repos.conf/local.conf',
      text: '[gentoo]\nlocation: /srv/gentoo\n\n[overlayman]\nlocation = /var/db/repos/overlayman\nmasters = gentoo\npriority = 10\n',
    }
    const conf = parseReposConf([SHIPPED, ESELECT, local])
    expect(conf.mainRepo).toBe('gentoo')
    expect([...conf.repos.keys()]).toEqual(['gentoo', 'guru', 'overlayman'])
    const gentoo = conf.repos.get('gentoo')
    expect(gentoo).toMatchObject({ location: '/srv/gentoo', file: SHIPPED.path, line: 4 })
    expect(gentoo?.values.get('sync-type')).toBe('rsync')
    expect(conf.repos.get('guru')).toMatchObject({ location: '/var/db/repos/guru', file: ESELECT.path, line: 3 })
    expect(conf.repos.get('overlayman')).toMatchObject({ masters: ['gentoo'], priority: 10, line: 4 })
    expect(conf.repos.get('guru')?.masters).toBeUndefined()
  })

  it('inherits [DEFAULT] values into every section unless overridden', () => {
    const conf = parseReposConf([
      { path: 'a.conf', text: '[DEFAULT]\nauto-sync = no\nmain-repo = mygentoo\n[x]\nlocation = /x\n[y]\nauto-sync = yes\n' },
    ])
    expect(conf.mainRepo).toBe('mygentoo')
    expect(conf.defaults).toEqual(new Map([['auto-sync', 'no'], ['main-repo', 'mygentoo']]))
    expect(conf.repos.get('x')?.values.get('auto-sync')).toBe('no')
    expect(conf.repos.get('y')?.values.get('auto-sync')).toBe('yes')
    expect(conf.repos.has('DEFAULT')).toBe(false)
  })

  it.each<[string, string, string, string | undefined]>([
    ['key: value form', '[r]\nlocation: /a\n', 'location', '/a'],
    ['keys are lower-cased', '[r]\nLOCATION = /a\n', 'location', '/a'],
    ['first delimiter wins', '[r]\nsync-uri = https://h:8080/x=y\n', 'sync-uri', 'https://h:8080/x=y'],
    ['; and # comment lines, even indented', '[r]\n; c\n  # c\nlocation = /a\n', 'location', '/a'],
    ['inline # is part of the value', '[r]\nlocation = /a # not a comment\n', 'location', '/a # not a comment'],
    ['continuation lines', '[r]\nsync-git-clone-extra-opts = --a\n  --b\n\n  --c\nlocation = /l\n', 'sync-git-clone-extra-opts', '--a\n--b\n--c'],
    ['empty value', '[r]\nmasters =\n', 'masters', ''],
    ['CRLF line ends', '[r]\r\nlocation = /a\r\n', 'location', '/a'],
    ['absent key', '[r]\n', 'location', undefined],
  ])('%s', (_name, text, key, value) => {
    expect(parseReposConf([{ path: 'f', text }]).repos.get('r')?.values.get(key)).toBe(value)
  })

  it.each<[string, string, Record<string, unknown>]>([
    ['empty masters means no masters', '[r]\nmasters =\n', { masters: [] }],
    ['masters list', '[r]\nmasters = gentoo  guru\n', { masters: ['gentoo', 'guru'] }],
    ['negative priority', '[r]\npriority = -1000\n', { priority: -1000 }],
    ['priority from DEFAULT', '[DEFAULT]\npriority = 5\n[r]\n', { priority: 5 }],
  ])('%s', (_name, text, expected) => {
    expect(parseReposConf([{ path: 'f', text }]).repos.get('r')).toMatchObject(expected)
  })

  it('the same section in two files is merged, not an error', () => {
    const conf = parseReposConf([
      { path: 'a', text: '[r]\nlocation = /a\nsync-type = git\n' },
      { path: 'b', text: '[r]\nlocation = /b\n' },
    ])
    expect(conf.repos.get('r')).toMatchObject({ location: '/b', file: 'a', line: 1 })
    expect(conf.repos.get('r')?.values.get('sync-type')).toBe('git')
  })

  it.each<[string, string, number]>([
    ['option before any section', '# c\nlocation = /a\n', 2],
    ['line without delimiter', '[r]\nlocation /a\n', 2],
    ['empty key', '[r]\n= /a\n', 2],
    ['section repeated in one file', '[r]\nlocation = /a\n[s]\n[r]\n', 4],
    ['key repeated in one section of one file', '[r]\nlocation = /a\nLocation = /b\n', 3],
    ['non-integer priority', '[r]\nlocation = /a\npriority = high\n', 3],
    ['broken header', '[r\nlocation = /a\n', 1],
  ])('invalid: %s %j → line %i', (_name, text, line) => {
    let caught: unknown
    try {
      parseReposConf([SHIPPED, { path: '/etc/portage/repos.conf/bad.conf', text }])
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(OlmError)
    expect((caught as OlmError).code).toBe('CONFIG_INVALID')
    expect((caught as OlmError).context).toMatchObject({ file: '/etc/portage/repos.conf/bad.conf', line })
  })

  it('mainRepo defaults to gentoo', () => {
    expect(parseReposConf([]).mainRepo).toBe('gentoo')
    expect(parseReposConf([]).repos.size).toBe(0)
  })
})

describe('reposConfFileOrder', () => {
  it.each<[string[], string[]]>([
    [['b.conf', 'a.conf', 'gentoo.conf'], ['a.conf', 'b.conf', 'gentoo.conf']],
    [['.hidden', 'x.conf~', 'x.conf', '.#x.conf'], ['x.conf']],
    [['Z.conf', 'a.conf', '10.conf', '9.conf'], ['10.conf', '9.conf', 'Z.conf', 'a.conf']],
    [[], []],
  ])('%j → %j', (names, ordered) => {
    expect(reposConfFileOrder(names)).toEqual(ordered)
  })
})
