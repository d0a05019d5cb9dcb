// Keeps the fixture overlays honest: their md5-cache must be exactly what
// the generator produces, and valid by the rules olm applies (contract.md
// "md5-cache entry valid"). Uses node:fs/crypto directly on purpose, so
// these tests do not depend on src/pms.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, lstatSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const fixturesDir = join(import.meta.dirname, '..', '..', 'fixtures')
const overlaysDir = join(fixturesDir, 'overlays')
const generator = join(fixturesDir, 'tools', 'gen-md5-cache.mjs')
const harness = join(fixturesDir, 'tools', 'depend-phase.sh')
const cachedOverlays = ['tenstorrent', 'guru']
const notCategories = new Set(['eclass', 'licenses', 'metadata', 'profiles'])

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex')
const lines = (file: string) =>
  readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'))

/** Every ebuild of an overlay as "category/PF" -> absolute path. */
function ebuilds(overlay: string): Map<string, string> {
  const root = join(overlaysDir, overlay)
  const found = new Map<string, string>()
  for (const category of readdirSync(root)) {
    if (notCategories.has(category) || !statSync(join(root, category)).isDirectory()) continue
    for (const pn of readdirSync(join(root, category))) {
      const pkgDir = join(root, category, pn)
      if (!statSync(pkgDir).isDirectory()) continue
      for (const name of readdirSync(pkgDir).filter((n) => n.endsWith('.ebuild'))) {
        found.set(`${category}/${name.slice(0, -'.ebuild'.length)}`, join(pkgDir, name))
      }
    }
  }
  return found
}

/** Every file below dir, relative, sorted. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))]))
    .sort()
}

function cacheEntries(overlay: string): Map<string, string> {
  const cacheDir = join(overlaysDir, overlay, 'metadata', 'md5-cache')
  return new Map(walk(cacheDir).map((rel) => [rel, join(cacheDir, rel)]))
}

function parseEntry(file: string): [string, string][] {
  return readFileSync(file, 'utf8')
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const eq = line.indexOf('=')
      if (eq <= 0) throw new Error(`${file}: line without '=': ${line}`)
      return [line.slice(0, eq), line.slice(eq + 1)] as [string, string]
    })
}

describe.each(cachedOverlays)('md5-cache of fixture overlay %s', (overlay) => {
  const entries = cacheEntries(overlay)
  const sources = ebuilds(overlay)

  it('has exactly one entry per ebuild', () => {
    expect([...entries.keys()].sort()).toEqual([...sources.keys()].sort())
    expect(entries.size).toBeGreaterThan(10)
  })

  it.each([...sources.keys()].sort())('%s: _md5_ is the md5 of the ebuild', (cpv) => {
    const fields = new Map(parseEntry(entries.get(cpv)!))
    expect(fields.get('_md5_')).toBe(md5(readFileSync(sources.get(cpv)!)))
  })

  it.each([...sources.keys()].sort())('%s: every _eclasses_ md5 matches the eclass olm would use', (cpv) => {
    const fields = new Map(parseEntry(entries.get(cpv)!))
    const pairs = (fields.get('_eclasses_') ?? '').split('\t').filter(Boolean)
    expect(pairs.length % 2).toBe(0)
    const inherit = (fields.get('INHERIT') ?? '').split(' ').filter(Boolean)
    const names: string[] = []
    for (let i = 0; i < pairs.length; i += 2) {
      const name = pairs[i]!
      names.push(name)
      // overlay first, then its master (pms.md §6.6)
      const own = join(overlaysDir, overlay, 'eclass', `${name}.eclass`)
      const file = existsSync(own) ? own : join(overlaysDir, 'gentoo', 'eclass', `${name}.eclass`)
      expect(existsSync(file), `${name}.eclass exists`).toBe(true)
      expect(pairs[i + 1], name).toBe(md5(readFileSync(file)))
    }
    for (const name of inherit) expect(names).toContain(name)
  })

  it.each([...sources.keys()].sort())('%s: is written in portage md5-dict form', (cpv) => {
    const keys = parseEntry(entries.get(cpv)!)
    const names = keys.map(([k]) => k)
    expect(names).toEqual([...names].sort())
    expect(names.at(-1)).toBe('_md5_')
    for (const [key, value] of keys) {
      expect(value, key).not.toBe('')
      expect(value, key).toBe(value.trim())
      expect(value, key).not.toMatch(key === '_eclasses_' ? / {2}|\n/ : /\s{2}|\t|\n/)
    }
    for (const key of ['DEFINED_PHASES', 'DESCRIPTION', 'EAPI', 'SLOT', '_md5_']) expect(names).toContain(key)
  })
})

describe('gen-md5-cache.mjs', () => {
  const work = mkdtempSync(join(tmpdir(), 'olm-fixtures-'))
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  const run = (...overlays: string[]) =>
    spawnSync(process.execPath, [generator, ...overlays.map((o) => join(work, o))], { encoding: 'utf8' })

  it('regenerates the committed caches byte for byte from scratch', () => {
    cpSync(overlaysDir, work, { recursive: true, verbatimSymlinks: true })
    for (const overlay of cachedOverlays) rmSync(join(work, overlay, 'metadata', 'md5-cache'), { recursive: true })

    const result = run(...cachedOverlays)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    for (const overlay of cachedOverlays) {
      const fresh = join(work, overlay, 'metadata', 'md5-cache')
      const committed = join(overlaysDir, overlay, 'metadata', 'md5-cache')
      expect(walk(fresh)).toEqual(walk(committed))
      for (const rel of walk(committed)) {
        expect(readFileSync(join(fresh, rel), 'utf8'), rel).toBe(readFileSync(join(committed, rel), 'utf8'))
      }
    }
  })

  it('changes nothing when run again', () => {
    const result = run(...cachedOverlays)
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/tenstorrent: 0 cache file\(s\) changed/)
    expect(result.stdout).toMatch(/guru: 0 cache file\(s\) changed/)
  })

  it('rewrites an entry whose ebuild changed and drops an entry whose ebuild is gone', () => {
    const ebuild = join(work, 'guru', 'dev-libs', 'libqux', 'libqux-1.0.ebuild')
    writeFileSync(ebuild, readFileSync(ebuild, 'utf8').replace('SLOT="0"', 'SLOT="1"'))
    rmSync(join(work, 'guru', 'app-misc', 'raku-hello'), { recursive: true })

    const result = run('guru')
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/guru: 2 cache file\(s\) changed/)
    const cacheDir = join(work, 'guru', 'metadata', 'md5-cache')
    expect(readFileSync(join(cacheDir, 'dev-libs', 'libqux-1.0'), 'utf8')).toMatch(/^SLOT=1$/m)
    expect(existsSync(join(cacheDir, 'app-misc', 'raku-hello-0.3.1'))).toBe(false)
  })

  it('fails with status 1 naming the ebuild that does not source', () => {
    const pkgDir = join(work, 'guru', 'dev-libs', 'libbroken')
    mkdirSync(pkgDir)
    writeFileSync(join(pkgDir, 'libbroken-1.ebuild'), 'EAPI=8\ninherit no-such-eclass\nSLOT="0"\n')
    const result = run('guru')
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('libbroken-1.ebuild')
    expect(result.stderr).toContain('no-such-eclass')
  })

  it('refuses a directory that is not an ebuild repository', () => {
    const result = spawnSync(process.execPath, [generator, work], { encoding: 'utf8' })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('profiles/repo_name')
  })
})

describe('depend-phase.sh', () => {
  const work = mkdtempSync(join(tmpdir(), 'olm-depend-'))
  afterAll(() => rmSync(work, { recursive: true, force: true }))
  const eclassDir = join(work, 'eclass')
  mkdirSync(eclassDir)
  writeFileSync(
    join(eclassDir, 'inner.eclass'),
    'IUSE="inner"\nRDEPEND="dev-libs/inner"\nPROPERTIES="live"\ninner_src_compile() { :; }\nEXPORT_FUNCTIONS src_compile\n',
  )
  writeFileSync(join(eclassDir, 'outer.eclass'), 'inherit inner\nIUSE="outer"\nRDEPEND="dev-libs/outer"\n')

  function depend(body: string, pf = 'foo-1.2.3') {
    const pkgDir = join(work, 'app-misc', 'foo')
    mkdirSync(pkgDir, { recursive: true })
    const file = join(pkgDir, `${pf}.ebuild`)
    writeFileSync(file, body)
    const r = spawnSync('bash', [harness, file, eclassDir], { encoding: 'utf8', env: { PATH: process.env.PATH } })
    const keys = new Map(
      r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    )
    return { status: r.status, stderr: r.stderr, keys }
  }

  it.each([
    // [what, ebuild body, key, expected value]
    ['eclass values follow the ebuild value, inner eclass first', 'EAPI=8\nIUSE="mine"\ninherit outer\n', 'IUSE', 'mine inner outer'],
    ['nested eclass deps accumulate', 'EAPI=8\ninherit outer\nRDEPEND="dev-libs/mine"\n', 'RDEPEND', 'dev-libs/mine dev-libs/inner dev-libs/outer'],
    ['INHERIT lists only direct inherits', 'EAPI=8\ninherit outer\n', 'INHERIT', 'outer'],
    ['exported phases count as defined', 'EAPI=8\ninherit outer\nsrc_install() { :; }\n', 'DEFINED_PHASES', 'compile install'],
    ['no phases gives "-"', 'EAPI=8\nSLOT="0"\n', 'DEFINED_PHASES', '-'],
    ['PROPERTIES accumulates in EAPI 8', 'EAPI=8\nPROPERTIES="interactive"\ninherit inner\n', 'PROPERTIES', 'interactive live'],
    ['PROPERTIES is plain in EAPI 7 (eclass assignment wins)', 'EAPI=7\nPROPERTIES="interactive"\ninherit inner\n', 'PROPERTIES', 'live'],
    ['conditional inherit on PV fires', 'EAPI=8\n[[ ${PV} == 1.2.3 ]] && inherit inner\n', 'INHERIT', 'inner'],
    ['whitespace is collapsed', 'EAPI=8\nRDEPEND="\n\ta/b\n\n\tc/d  "\n', 'RDEPEND', 'a/b c/d'],
    ['ver_cut works in global scope', 'EAPI=8\nSLOT="$(ver_cut 1-2)"\n', 'SLOT', '1.2'],
    ['EAPI quoted with a trailing comment', '# c\n\nEAPI="8" # note\nSLOT=0\n', 'EAPI', '8'],
  ])('%s', (_what, body, key, expected) => {
    const { status, stderr, keys } = depend(body)
    expect(stderr).toBe('')
    expect(status).toBe(0)
    expect(keys.get(key)).toBe(expected)
  })

  it('drops IDEPEND for EAPI 7', () => {
    const { keys } = depend('EAPI=7\nIDEPEND="a/b"\n')
    expect(keys.has('IDEPEND')).toBe(false)
  })

  it.each([
    ['an unknown eclass', 'EAPI=8\ninherit nope\n', 'eclass nope not found'],
    ['use() in global scope', 'EAPI=8\nuse foo && IUSE=x\n', 'use() calls are not allowed'],
    ['an external command', 'EAPI=8\nSLOT=$(sed -n 1p /etc/hostname)\n', "external command 'sed'"],
    ['an unsupported EAPI', 'EAPI=6\n', 'EAPI 6 is not supported'],
    ['an EAPI changed by the ebuild', 'EAPI=8\nEAPI=7\n', 'EAPI changed'],
    ['an explicit die', 'EAPI=8\ndie "broken on purpose"\n', 'broken on purpose'],
    ['an unmatched glob (failglob)', 'EAPI=8\nSRC_URI=$(echo /nonexistent/*.tar)\n', 'no match'],
  ])('fails on %s', (_what, body, message) => {
    const { status, stderr } = depend(body)
    expect(status).not.toBe(0)
    expect(stderr).toContain(message)
  })
})

describe('fixture facts the end-to-end tests rely on', () => {
  const gentoo = join(overlaysDir, 'gentoo')
  const gentooCategories = new Set(lines(join(gentoo, 'profiles', 'categories')))

  it('the ::gentoo stand-in lists every category the overlays use except the overlay-only ones', () => {
    const used = new Set(
      ['tenstorrent', 'guru'].flatMap((o) => [...ebuilds(o).keys()].map((cpv) => cpv.split('/')[0]!)),
    )
    const missing = [...used].filter((c) => !gentooCategories.has(c)).sort()
    expect(missing).toEqual(['app-voices', 'dev-nim', 'sci-accel'])
    expect(lines(join(overlaysDir, 'guru', 'profiles', 'categories'))).toEqual(['app-voices', 'dev-nim'])
  })

  it('keeps mode bits and the in-package symlink', () => {
    const openrc = join(overlaysDir, 'tenstorrent', 'sys-apps', 'tt-system-tools', 'files', 'tt-hugepages.openrc')
    expect(statSync(openrc).mode & 0o111).not.toBe(0)
    const confd = join(overlaysDir, 'tenstorrent', 'sys-apps', 'tt-system-tools', 'files', 'tt-hugepages.confd')
    expect(statSync(confd).mode & 0o111).toBe(0)
    const link = join(overlaysDir, 'tenstorrent', 'app-containers', 'tt-metalium', 'files', 'tt-metalium.conf')
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readlinkSync(link)).toBe('tt-metalium-default.conf')
  })

  it('has requests 2.31.0 only in ::gentoo, so tt-flash (>=2.32) needs the overlay copy', () => {
    expect(readdirSync(join(gentoo, 'dev-python', 'requests')).filter((n) => n.endsWith('.ebuild'))).toEqual([
      'requests-2.31.0.ebuild',
    ])
    expect(readFileSync(cacheEntries('tenstorrent').get('dev-python/tt-flash-3.1.1')!, 'utf8')).toContain(
      '>=dev-python/requests-2.32[',
    )
  })

  it('ships a docs.eclass in both ::gentoo and guru with different content', () => {
    const a = readFileSync(join(gentoo, 'eclass', 'docs.eclass'))
    const b = readFileSync(join(overlaysDir, 'guru', 'eclass', 'docs.eclass'))
    expect(md5(a)).not.toBe(md5(b))
  })
})
