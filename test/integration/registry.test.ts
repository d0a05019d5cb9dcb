import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OlmError } from '../../src/errors.js'
import { parseRepositoriesXml } from '../../src/pms/repositoriesxml.js'
import { loadRepositoriesXml, parseOverlaysConf, resolveOverlay, syncTypeOf, type UserOverlayDef } from '../../src/overlay/registry.js'
import { startStaticServer, type StaticServer } from '../helpers/static-server.js'
import { testDir } from '../helpers/tmp.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const realXmlFile = path.resolve(repoRoot, '../shared/data/repositories.xml')

function caught(fn: () => unknown): OlmError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OlmError)
    return err as OlmError
  }
  throw new Error('expected an OlmError')
}

describe('parseOverlaysConf', () => {
  it.each<[string, string, Omit<UserOverlayDef, 'file'>[]]>([
    ['empty', '# nothing\n\n', []],
    ['git with branch', '[tt]\nsync-uri = https://github.com/tt/overlay.git\nbranch = main\n', [{ name: 'tt', syncUri: 'https://github.com/tt/overlay.git', branch: 'main', line: 1 }]],
    ['explicit tar', '\n[my_ov]\nsync-uri = http://example.org/x\nsync-type = tar\n', [{ name: 'my_ov', syncUri: 'http://example.org/x', syncType: 'tar', line: 2 }]],
    ['two sections', '[a]\nsync-uri=https://x/a.tar.gz\n; comment\n[b-x2]\nsync-uri=https://x/b\n', [
      { name: 'a', syncUri: 'https://x/a.tar.gz', line: 1 },
      { name: 'b-x2', syncUri: 'https://x/b', line: 4 },
    ]],
    ['slashed branch', '[a]\nsync-uri=https://x/a\nbranch=release/1.x\n', [{ name: 'a', syncUri: 'https://x/a', branch: 'release/1.x', line: 1 }]],
  ])('accepts %s', (_name, text, expected) => {
    expect(parseOverlaysConf(text, 'a.conf')).toEqual(expected.map((d) => ({ ...d, file: 'a.conf' })))
  })

  it.each<[string, string, number]>([
    ['key before any section', 'sync-uri = https://x/a\n', 1],
    ['unknown key', '[a]\nsync-uri = https://x/a\nlocation = /tmp\n', 3],
    ['missing sync-uri', '\n[a]\nbranch = main\n', 2],
    ['empty sync-uri', '[a]\nsync-uri =\n', 1],
    ['bad sync-type', '[a]\nsync-uri = https://x/a\nsync-type = rsync\n', 3],
    ['ssh URL', '[a]\nsync-uri = ssh://git@github.com/a/b.git\n', 2],
    ['scp-style URL', '[a]\nsync-uri = git@github.com:a/b.git\n', 2],
    ['file URL', '[a]\nsync-uri = file:///srv/overlay\n', 2],
    ['ext transport', '[a]\nsync-uri = ext::sh -c touch% /tmp/pwned\n', 2],
    ['name starting with -', '[-a]\nsync-uri = https://x/a\n', 1],
    ['name with a dot', '[a.b]\nsync-uri = https://x/a\n', 1],
    ['name ending in a version', '[local-1]\nsync-uri = https://x/a\n', 1],
    ['name ending in a lettered version', '[b-2x]\nsync-uri = https://x/a\n', 1],
    ['option-like branch', '[a]\nsync-uri = https://x/a\nbranch = --upload-pack=x\n', 3],
    ['branch with ..', '[a]\nsync-uri = https://x/a\nbranch = a..b\n', 3],
    ['branch for a tarball', '[a]\nsync-uri = https://x/a.tgz\nbranch = main\n', 3],
    ['malformed line', '[a]\nsync-uri https://x/a\n', 2],
    ['duplicate section', '[a]\nsync-uri = https://x/a\n[a]\nsync-uri = https://x/b\n', 3],
  ])('refuses %s with CONFIG_INVALID at its line', (_name, text, line) => {
    const err = caught(() => parseOverlaysConf(text, 'a.conf'))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.context).toMatchObject({ file: 'a.conf', line })
  })

  it.each([
    ['https://x/a.tar.gz', 'tar'],
    ['https://x/a.tgz?token=1', 'tar'],
    ['https://github.com/a/b/archive/refs/heads/main.tar.gz', 'tar'],
    ['https://x/a.git', 'git'],
    ['https://x/tar.gz/repo', 'git'],
  ])('defaults sync-type for %s to %s', (syncUri, type) => {
    expect(syncTypeOf({ syncUri })).toBe(type)
  })
})

describe('resolveOverlay', () => {
  const where = { overlaysDir: '/etc/overlayman/overlays.d', repositoriesXml: 'https://api.gentoo.org/overlays/repositories.xml' }
  let registry: ReturnType<typeof parseRepositoriesXml>
  beforeAll(async () => {
    registry = parseRepositoriesXml(await readFile(realXmlFile, 'utf8'))
  })
  const userDefs = (text: string) => new Map(parseOverlaysConf(text, '/etc/overlayman/overlays.d/my.conf').map((d) => [d.name, d]))

  it('takes the first https git source of repositories.xml', () => {
    expect(resolveOverlay('guru', new Map(), registry, where)).toEqual({
      kind: 'git',
      overlay: 'guru',
      url: 'https://github.com/gentoo-mirror/guru.git',
      origin: 'repositories.xml',
    })
  })

  it('prefers the user definition over repositories.xml', () => {
    const user = userDefs('\n[guru]\nsync-uri = https://mirror.example/guru.git\nbranch = dev\n')
    expect(resolveOverlay('guru', user, registry, where)).toEqual({
      kind: 'git',
      overlay: 'guru',
      url: 'https://mirror.example/guru.git',
      branch: 'dev',
      origin: '/etc/overlayman/overlays.d/my.conf:2',
    })
  })

  it('gives a tar source for a tarball URL', () => {
    const user = userDefs('[tt]\nsync-uri = https://example.org/tt.tar.gz\n')
    expect(resolveOverlay('tt', user, null, where)).toMatchObject({ kind: 'tar', url: 'https://example.org/tt.tar.gz' })
  })

  it('names both places it looked for an unknown overlay', () => {
    const err = caught(() => resolveOverlay('no-such-overlay', new Map(), registry, where))
    expect(err.code).toBe('OVERLAY_UNKNOWN')
    expect(err.context.overlay).toBe('no-such-overlay')
    expect(err.message).toContain('"no-such-overlay"')
    expect(err.message).toContain(where.overlaysDir)
    expect(err.message).toContain(where.repositoriesXml)
  })

  it('says when repositories.xml was not available', () => {
    const err = caught(() => resolveOverlay('guru', new Map(), null, where))
    expect(err.code).toBe('OVERLAY_UNKNOWN')
    expect(err.message).toContain('not available')
  })

  it.each([['zugaina'], ['haarp'], ['thuis']])('refuses %s, which has no https git source', (name) => {
    const err = caught(() => resolveOverlay(name, new Map(), registry, where))
    expect(err.code).toBe('OVERLAY_UNKNOWN')
    expect(err.message).toContain(registry.get(name)!.sources[0]!.url)
  })

  it('refuses a non-http URL in a definition built by hand', () => {
    const def: UserOverlayDef = { name: 'x', syncUri: 'ext::sh -c id', file: 'x.conf', line: 4 }
    const err = caught(() => resolveOverlay('x', new Map([['x', def]]), null, where))
    expect(err.code).toBe('UNSAFE_PATH')
    expect(err.message).toContain('ext::sh -c id')
    expect(err.context).toMatchObject({ file: 'x.conf', line: 4 })
  })
})

describe('loadRepositoriesXml', () => {
  let server: StaticServer
  let realXml: string
  const oldXml = '<?xml version="1.0"?>\n<repositories version="1.0"><repo quality="experimental" status="unofficial"><name>old</name><description>o</description><owner><email>a@b</email></owner><source type="git">https://x/old.git</source></repo></repositories>\n'
  const now = new Date('2026-08-22T12:00:00Z')
  const twoDaysAgo = new Date(now.getTime() - 2 * 86_400_000)
  const oneHourAgo = new Date(now.getTime() - 3_600_000)
  let counter = 0

  beforeAll(async () => {
    server = await startStaticServer()
    realXml = await readFile(realXmlFile, 'utf8')
  })
  afterAll(() => server.close())

  /** A cache file (optionally pre-filled with the old copy at `mtime`) and a fresh URL serving `route`. */
  async function setup(route: Parameters<StaticServer['set']>[1], cached?: Date) {
    const dir = await testDir()
    const cacheFile = path.join(dir, 'cache', 'repositories.xml')
    if (cached) {
      await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(cacheFile)))
      await writeFile(cacheFile, oldXml)
      await utimes(cacheFile, cached, cached)
    }
    const urlPath = `/r${++counter}/repositories.xml`
    server.set(urlPath, route)
    const requests = () => server.requests.filter((r) => r.path === urlPath).length
    return { cacheFile, url: server.url + urlPath, requests }
  }

  it('downloads when there is no copy', async () => {
    const { cacheFile, url } = await setup({ kind: 'file', body: realXml })
    const result = await loadRepositoriesXml({ url, cacheFile, now, refresh: true })
    expect(result).toEqual({ text: realXml, fetched: true })
    expect(await readFile(cacheFile, 'utf8')).toBe(realXml)
  })

  it('uses a copy younger than a day without asking the server', async () => {
    const { cacheFile, url, requests } = await setup({ kind: 'file', body: realXml }, oneHourAgo)
    expect(await loadRepositoriesXml({ url, cacheFile, now, refresh: true })).toEqual({ text: oldXml, fetched: false })
    expect(requests()).toBe(0)
  })

  it('refreshes a stale copy', async () => {
    const { cacheFile, url, requests } = await setup({ kind: 'file', body: realXml }, twoDaysAgo)
    const result = await loadRepositoriesXml({ url, cacheFile, now, refresh: true })
    expect(result).toEqual({ text: realXml, fetched: true })
    expect(requests()).toBe(1)
    expect(await readFile(cacheFile, 'utf8')).toBe(realXml)
  })

  it('keeps a stale copy when refreshing is not allowed', async () => {
    const { cacheFile, url, requests } = await setup({ kind: 'file', body: realXml }, twoDaysAgo)
    expect(await loadRepositoriesXml({ url, cacheFile, now, refresh: false })).toEqual({ text: oldXml, fetched: false })
    expect(requests()).toBe(0)
  })

  it.each<[string, Parameters<StaticServer['set']>[1], string]>([
    ['a 500', { kind: 'status', status: 500 }, 'FETCH_FAILED'],
    ['a truncated body', { kind: 'truncate', body: Buffer.from('<?xml version="1.0"?><repositories>'.padEnd(500)), afterBytes: 20 }, 'SOURCE_UNREACHABLE'],
    ['an HTML error page', { kind: 'file', body: '<html><body>maintenance</body></html>' }, 'METADATA_INVALID'],
    ['a cut-off document', { kind: 'file', body: '<?xml version="1.0"?>\n<repositories version="1.0"><repo quality="x" status="y"><name>a' }, 'METADATA_INVALID'],
  ])('keeps the old copy, untouched, when the refresh gets %s', async (_name, route, code) => {
    const { cacheFile, url } = await setup(route, twoDaysAgo)
    const result = await loadRepositoriesXml({ url, cacheFile, now, refresh: true })
    expect(result.text).toBe(oldXml)
    expect(result.fetched).toBe(false)
    expect(result.error?.code).toBe(code)
    expect(result.error?.message).toContain(url)
    expect(await readFile(cacheFile, 'utf8')).toBe(oldXml)
    expect((await stat(cacheFile)).mtime.getTime()).toBe(twoDaysAgo.getTime())
    expect(await readdir(path.dirname(cacheFile))).toEqual(['repositories.xml'])
  })

  it('has no text, and says why, when there is no copy and the server is down', async () => {
    const cacheFile = path.join(await testDir(), 'repositories.xml')
    const result = await loadRepositoriesXml({ url: 'http://127.0.0.1:9/repositories.xml', cacheFile, now, refresh: true })
    expect(result.text).toBeNull()
    expect(result.error?.code).toBe('SOURCE_UNREACHABLE')
  })
})
