import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { parseRepositoriesXml, pickGitHttpsSource, type RegistryRepo } from '../../../src/pms/repositoriesxml.js'

// <clone>/test/unit/pms → <clone>/../shared: shared/ sits beside the clone, in CI too.
const REAL_XML = new URL('../../../../shared/data/repositories.xml', import.meta.url)

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}

describe('parseRepositoriesXml on the real repositories.xml', () => {
  const repos = parseRepositoriesXml(readFileSync(REAL_XML, 'utf8'), 'repositories.xml')
  const all = [...repos.values()]

  it('reads every repository (the commented-out templates are not repos)', () => {
    expect(repos.size).toBe(458)
    expect(repos.has('XXXXX')).toBe(false)
  })

  it('has the counts of pms.md §8.1', () => {
    expect(countBy(all, (r) => r.quality)).toEqual({ experimental: 456, core: 1, testing: 1 })
    expect(countBy(all, (r) => r.status)).toEqual({ unofficial: 426, official: 32 })
    expect(countBy(all.flatMap((r) => r.sources), (s) => s.type)).toEqual({ git: 896, rsync: 5, cvs: 1, mercurial: 1 })
  })

  it('resolves guru to the gentoo-mirror clone with md5-cache', () => {
    const guru = repos.get('guru') as RegistryRepo
    expect(guru).toMatchObject({
      name: 'guru',
      description: 'GURU: Ebuild repository entirely maintained by Gentoo users',
      homepage: 'https://wiki.gentoo.org/wiki/Project:GURU',
      quality: 'experimental',
      status: 'official',
    })
    expect(guru.sources[0]).toEqual({ type: 'git', url: 'https://github.com/gentoo-mirror/guru.git' })
    expect(pickGitHttpsSource(guru)?.url).toBe('https://github.com/gentoo-mirror/guru.git')
  })

  it('gentoo is the core repo, synced over rsync only', () => {
    const gentoo = repos.get('gentoo') as RegistryRepo
    expect(gentoo.quality).toBe('core')
    expect(gentoo.sources).toContainEqual({ type: 'rsync', url: 'rsync://rsync.gentoo.org/gentoo-portage' })
  })

  it('every repo has a name, a description and at least one source', () => {
    for (const repo of all) {
      expect(repo.name).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]*$/)
      expect(repo.sources.length).toBeGreaterThan(0)
      expect(repo.sources.every((s) => s.url !== '' && !/\s/.test(s.url))).toBe(true)
    }
  })
})

const wrap = (repos: string) => `<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE repositories SYSTEM "https://www.gentoo.org/dtd/repositories.dtd">
<repositories xmlns="" version="1.0">
${repos}
</repositories>
`

describe('parseRepositoriesXml on small documents', () => {
  it.each<[string, string, Partial<RegistryRepo>]>([
    [
      'plain repo',
      `<repo quality="experimental" status="unofficial"><name>foo</name><description lang="en">Foo</description>
       <owner type="person"><email>a@b</email></owner><source type="git">https://x/foo.git</source></repo>`,
      { name: 'foo', description: 'Foo', quality: 'experimental', status: 'unofficial', sources: [{ type: 'git', url: 'https://x/foo.git' }] },
    ],
    [
      'English description preferred, entities decoded, whitespace collapsed',
      `<repo quality="testing" status="official"><name> bar </name><description lang="de">Bar &amp; so</description>
       <description lang="en">Bar
          &amp; co &#x263A;</description><source type="git"><![CDATA[https://x/bar.git?a=1&b=2]]></source></repo>`,
      { name: 'bar', description: 'Bar & co \u263A', sources: [{ type: 'git', url: 'https://x/bar.git?a=1&b=2' }] },
    ],
    ['no homepage', `<repo quality="q" status="s"><name>baz</name><source type="rsync">rsync://x/baz</source></repo>`, {}],
  ])('%s', (_name, body, expected) => {
    const repos = parseRepositoriesXml(wrap(body))
    expect(repos.size).toBe(1)
    const repo = [...repos.values()][0] as RegistryRepo
    expect(repo).toMatchObject(expected)
    if (!body.includes('<homepage>')) expect(repo).not.toHaveProperty('homepage')
  })

  it.each<[string, string, number]>([
    ['mismatched end tag', wrap('<repo><name>a</nam></repo>'), 4],
    ['unclosed element', '<repositories>\n<repo>\n', 2],
    ['bad entity', wrap('\n<repo><name>a &nbsp; b</name></repo>'), 5],
    ['unquoted attribute', wrap('<repo quality=x><name>a</name></repo>'), 4],
    ['duplicate attribute', wrap('<repo a="1" a="2"><name>a</name></repo>'), 4],
    ['text after the root', wrap('') + 'junk', 6],
    ['wrong root element', '<?xml version="1.0"?>\n\n<overlays/>', 3],
    ['repo without name', wrap('<repo>\n<description>x</description></repo>'), 4],
    ['same repo twice', wrap('<repo><name>a</name></repo>\n<repo><name>a</name></repo>'), 5],
    ['unterminated comment', '<repositories>\n<!-- x </repositories>', 2],
  ])('invalid: %s %j → line %i', (_name, text, line) => {
    let caught: unknown
    try {
      parseRepositoriesXml(text, 'repositories.xml')
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(OlmError)
    expect((caught as OlmError).code).toBe('METADATA_INVALID')
    expect((caught as OlmError).context).toMatchObject({ file: 'repositories.xml', line })
  })
})

describe('pickGitHttpsSource', () => {
  const repo = (sources: [string, string][]): RegistryRepo => ({
    name: 'r',
    description: '',
    quality: 'experimental',
    status: 'unofficial',
    sources: sources.map(([type, url]) => ({ type, url })),
  })

  it.each<[string, [string, string][], string | null]>([
    ['first https git wins', [['git', 'git+ssh://x/a.git'], ['git', 'https://x/a.git'], ['git', 'https://y/a.git']], 'https://x/a.git'],
    ['http is not https', [['git', 'http://x/a.git']], null],
    ['mercurial over https does not count', [['mercurial', 'https://x/a'], ['git', 'https://x/b.git']], 'https://x/b.git'],
    ['rsync only', [['rsync', 'rsync://x/a']], null],
    ['no sources', [], null],
  ])('%s', (_name, sources, url) => {
    expect(pickGitHttpsSource(repo(sources))?.url ?? null).toBe(url)
  })
})
