import { execFileSync } from 'node:child_process'
import { lstat, mkdir, readdir, readlink, stat, writeFile, chmod, symlink } from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { OlmError } from '../../src/errors.js'
import { fetchBuffer, httpGet } from '../../src/overlay/http.js'
import { fetchTarOverlay, openTarTree, type FetchTarOptions } from '../../src/overlay/tar.js'
import { startStaticServer, type StaticServer } from '../helpers/static-server.js'
import { testDir } from '../helpers/tmp.js'

/** One tar member, written by hand so hostile headers can be produced exactly. */
interface Member {
  name: string
  /** ustar typeflag: 0 file, 1 hard link, 2 symlink, 3 char dev, 4 block dev, 5 dir, 6 fifo. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6'
  body?: string
  mode?: number
  linkname?: string
}

function tarGz(members: Member[]): Buffer {
  const blocks: Buffer[] = []
  for (const m of members) {
    const body = Buffer.from(m.body ?? '')
    const type = m.type ?? (m.name.endsWith('/') ? '5' : '0')
    blocks.push(ustarHeader({ ...m, type }, type === '0' ? body.length : 0))
    if (type === '0' && body.length) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

function ustarHeader(m: Member, size: number): Buffer {
  const h = Buffer.alloc(512)
  const put = (text: string, offset: number, length: number) => h.write(text, offset, length, 'utf8')
  const octal = (n: number, offset: number, length: number) => put(n.toString(8).padStart(length - 1, '0') + '\0', offset, length)
  put(m.name, 0, 100)
  octal(m.mode ?? (m.type === '5' ? 0o755 : 0o644), 100, 8)
  octal(0, 108, 8)
  octal(0, 116, 8)
  octal(size, 124, 12)
  octal(1_700_000_000, 136, 12)
  put(m.type!, 156, 1)
  put(m.linkname ?? '', 157, 100)
  put('ustar\0' + '00', 257, 8)
  h.fill(' ', 148, 156)
  let sum = 0
  for (const byte of h) sum += byte
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return h
}

/** A GitHub-style archive: everything under one top directory. */
function githubArchive(version: string, extra: Member[] = []): Buffer {
  return tarGz([
    { name: 'ov-main/' },
    { name: 'ov-main/profiles/' },
    { name: 'ov-main/profiles/repo_name', body: 'ov\n' },
    { name: 'ov-main/app-misc/' },
    { name: 'ov-main/app-misc/foo/' },
    { name: `ov-main/app-misc/foo/foo-${version}.ebuild`, body: `EAPI=8\n# ${version}\n` },
    { name: 'ov-main/app-misc/foo/files/' },
    { name: 'ov-main/app-misc/foo/files/run.sh', body: '#!/bin/sh\n', mode: 0o4775 },
    { name: 'ov-main/app-misc/foo/files/shared.txt', body: 'shared\n', mode: 0o666 },
    { name: 'ov-main/app-misc/foo/files/link', type: '2', linkname: 'run.sh' },
    ...extra,
  ])
}

let server: StaticServer
beforeAll(async () => {
  server = await startStaticServer()
})
afterAll(() => server.close())

let routeCounter = 0
/** A fresh path on the shared server for each test. */
function route(): { path: string; url: string } {
  const p = `/t${++routeCounter}/overlay.tar.gz`
  return { path: p, url: server.url + p }
}

async function setup(): Promise<{ cacheDir: string; opts: (url: string) => FetchTarOptions }> {
  const cacheDir = path.join(await testDir(), 'ov')
  return { cacheDir, opts: (url) => ({ overlay: 'ov', url, cacheDir, http: { stallMs: 2000 } }) }
}

async function caught(promise: Promise<unknown>): Promise<OlmError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OlmError)
  return err as OlmError
}

/** The live extract still reads as version 1 and the cache holds nothing but it. */
async function expectVersion1Intact(cacheDir: string, commit: string): Promise<void> {
  const tree = await openTarTree(cacheDir, 'ov')
  expect(tree?.commit).toBe(commit)
  expect((await tree!.readFile('app-misc/foo/foo-1.ebuild'))?.toString()).toContain('# 1')
  expect((await readdir(cacheDir)).sort()).toEqual(['current', 'tar-state.json', `tree-${commit}`])
}

describe('fetchTarOverlay', () => {
  it('extracts a GitHub archive without its top directory, with safe modes and inside links kept', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: githubArchive('1'), etag: '"v1"' })
    const { cacheDir, opts } = await setup()
    const result = await fetchTarOverlay(opts(url))
    expect(result.changed).toBe(true)
    expect(result.commit).toMatch(/^[0-9a-f]{64}$/)
    const tree = (await openTarTree(cacheDir, 'ov'))!
    expect(tree.commit).toBe(result.commit)
    expect((await tree.readDir(''))!.map((e) => e.name)).toEqual(['app-misc', 'profiles'])
    expect(await tree.readDir('app-misc/foo/files')).toEqual([
      { name: 'link', type: 'symlink', executable: false },
      { name: 'run.sh', type: 'file', executable: true },
      { name: 'shared.txt', type: 'file', executable: false },
    ])
    expect(await tree.readLink('app-misc/foo/files/link')).toBe('run.sh')
    const root = await readlink(path.join(cacheDir, 'current'))
    const modeOf = async (rel: string) => (await stat(path.join(cacheDir, root, rel))).mode & 0o7777
    expect(await modeOf('app-misc/foo/files/run.sh')).toBe(0o755)
    expect(await modeOf('app-misc/foo/files/shared.txt')).toBe(0o644)
    expect(await modeOf('app-misc/foo')).toBe(0o755)
  })

  it('keeps the top level when entries do not share one directory', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: tarGz([{ name: 'a/' }, { name: 'a/x', body: 'x' }, { name: 'README', body: 'r' }]) })
    const { cacheDir, opts } = await setup()
    await fetchTarOverlay(opts(url))
    const tree = (await openTarTree(cacheDir, 'ov'))!
    expect((await tree.readDir(''))!.map((e) => e.name)).toEqual(['README', 'a'])
  })

  it('sends If-None-Match / If-Modified-Since and rewrites nothing on 304', async () => {
    const { path: p, url } = route()
    const lastModified = 'Wed, 21 Oct 2025 07:28:00 GMT'
    server.set(p, { kind: 'file', body: githubArchive('1'), etag: '"v1"', lastModified })
    const { cacheDir, opts } = await setup()
    const first = await fetchTarOverlay(opts(url))
    const before = await lstat(path.join(cacheDir, 'current'))
    const second = await fetchTarOverlay(opts(url))
    expect(second).toEqual({ commit: first.commit, changed: false })
    const last = server.requests.filter((r) => r.path === p).at(-1)!
    expect(last.headers['if-none-match']).toBe('"v1"')
    expect(last.headers['if-modified-since']).toBe(lastModified)
    expect((await lstat(path.join(cacheDir, 'current'))).ino).toBe(before.ino)
    await expectVersion1Intact(cacheDir, first.commit)
  })

  it('reports unchanged when the server resends the same content', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: githubArchive('1') })
    const { cacheDir, opts } = await setup()
    const first = await fetchTarOverlay(opts(url))
    expect(await fetchTarOverlay(opts(url))).toEqual({ commit: first.commit, changed: false })
    await expectVersion1Intact(cacheDir, first.commit)
  })

  it('swaps in a changed tarball and drops the old extract', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: githubArchive('1'), etag: '"v1"' })
    const { cacheDir, opts } = await setup()
    const first = await fetchTarOverlay(opts(url))
    server.set(p, { kind: 'file', body: githubArchive('2'), etag: '"v2"' })
    const second = await fetchTarOverlay(opts(url))
    expect(second.changed).toBe(true)
    expect(second.commit).not.toBe(first.commit)
    const tree = (await openTarTree(cacheDir, 'ov'))!
    expect(await tree.readFile('app-misc/foo/foo-1.ebuild')).toBeNull()
    expect((await tree.readFile('app-misc/foo/foo-2.ebuild'))?.toString()).toContain('# 2')
    expect((await readdir(cacheDir)).sort()).toEqual(['current', 'tar-state.json', `tree-${second.commit}`])
  })

  it('reports download progress in bytes', async () => {
    const { path: p, url } = route()
    const body = githubArchive('1')
    server.set(p, { kind: 'file', body })
    const { opts } = await setup()
    const seen: { phase: string; loaded: number; total?: number }[] = []
    await fetchTarOverlay({ ...opts(url), onProgress: (e) => seen.push(e) })
    expect(seen.at(-1)).toEqual({ phase: 'download', loaded: body.length, total: body.length })
  })

  it('has no tree before the first fetch', async () => {
    const { cacheDir } = await setup()
    expect(await openTarTree(cacheDir, 'ov')).toBeNull()
  })

  describe('a failed refetch keeps the previous extract', () => {
    const faults: [string, (body: Buffer) => Parameters<StaticServer['set']>[1], string, RegExp][] = [
      ['404', () => ({ kind: 'status', status: 404 }), 'FETCH_FAILED', /404/],
      ['500', () => ({ kind: 'status', status: 500 }), 'FETCH_FAILED', /500/],
      ['truncated body', (b) => ({ kind: 'truncate', body: b, afterBytes: 100 }), 'SOURCE_UNREACHABLE', /lost after 100 bytes/],
      ['connection reset', (b) => ({ kind: 'reset', body: b, afterBytes: 64 }), 'SOURCE_UNREACHABLE', /lost/],
      ['stalled server', (b) => ({ kind: 'stall', body: b, afterBytes: 64 }), 'SOURCE_UNREACHABLE', /sent nothing for 2000 ms/],
      ['not gzip', () => ({ kind: 'file', body: 'this is not a tarball' }), 'FETCH_FAILED', /not a valid \.tar\.gz/],
      ['truncated gzip', (b) => ({ kind: 'file', body: b.subarray(0, b.length - 40) }), 'FETCH_FAILED', /not a valid/],
    ]
    it.each(faults)('%s', async (_name, fault, code, message) => {
      const { path: p, url } = route()
      server.set(p, { kind: 'file', body: githubArchive('1'), etag: '"v1"' })
      const { cacheDir, opts } = await setup()
      const { commit } = await fetchTarOverlay(opts(url))
      server.set(p, fault(githubArchive('2')))
      const err = await caught(fetchTarOverlay(opts(url)))
      expect(err.code).toBe(code)
      expect(err.message).toMatch(message)
      expect(err.message).toContain(url)
      await expectVersion1Intact(cacheDir, commit)
    })
  })

  it('refuses a body larger than the limit', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: Buffer.alloc(5000), chunked: true })
    const { opts } = await setup()
    const err = await caught(fetchTarOverlay({ ...opts(url), http: { maxBytes: 1000 } }))
    expect(err.code).toBe('FETCH_FAILED')
    expect(err.message).toContain('1000 bytes')
  })

  it('reports a cache directory it cannot create as WRITE_FAILED', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: githubArchive('1') })
    const blocker = path.join(await testDir(), 'file')
    await writeFile(blocker, '')
    const err = await caught(fetchTarOverlay({ overlay: 'ov', url, cacheDir: path.join(blocker, 'ov') }))
    expect(err.code).toBe('WRITE_FAILED')
    expect(err.context.overlay).toBe('ov')
  })

  it('reports an unreachable server', async () => {
    const { opts } = await setup()
    const err = await caught(fetchTarOverlay(opts('http://127.0.0.1:9/x.tar.gz')))
    expect(err.code).toBe('SOURCE_UNREACHABLE')
    expect(err.context.url).toBe('http://127.0.0.1:9/x.tar.gz')
  })

  describe('hostile tarballs are refused, naming the entry', () => {
    const ok = { name: 'ov-main/profiles/repo_name', body: 'ov\n' }
    const cases: [string, Member[], string][] = [
      ['parent path', [ok, { name: '../x', body: 'x' }], '../x'],
      ['nested parent path', [ok, { name: 'ov-main/../../x', body: 'x' }], 'ov-main/../../x'],
      ['absolute path', [ok, { name: '/etc/x', body: 'x' }], '/etc/x'],
      ['symlink to /etc/passwd', [ok, { name: 'ov-main/passwd', type: '2', linkname: '/etc/passwd' }], 'ov-main/passwd'],
      ['symlink climbing out', [ok, { name: 'ov-main/profiles/up', type: '2', linkname: '../../x' }], 'ov-main/profiles/up'],
      ['symlink to the stripped top dir parent', [ok, { name: 'ov-main/up', type: '2', linkname: '..' }], 'ov-main/up'],
      ['symlink chain', [ok, { name: 'ov-main/r', type: '2', linkname: '.' }, { name: 'ov-main/s', type: '2', linkname: 'r/..' }], 'ov-main/s'],
      ['hard link to /etc/passwd', [ok, { name: 'ov-main/h', type: '1', linkname: '/etc/passwd' }], 'ov-main/h'],
      ['hard link to a file not in the archive', [ok, { name: 'ov-main/h', type: '1', linkname: 'ov-main/nope' }], 'ov-main/h'],
      ['fifo', [ok, { name: 'ov-main/fifo', type: '6' }], 'ov-main/fifo'],
      ['character device', [ok, { name: 'ov-main/null', type: '3' }], 'ov-main/null'],
      ['block device', [ok, { name: 'ov-main/sda', type: '4' }], 'ov-main/sda'],
      ['control character', [ok, { name: 'ov-main/a\nb', body: 'x' }], 'ov-main/a\nb'],
      ['file below a symlink', [ok, { name: 'ov-main/d', type: '2', linkname: 'profiles' }, { name: 'ov-main/d/x', body: 'x' }], 'ov-main/d/x'],
    ]
    it.each(cases)('%s', async (_name, members, entry) => {
      const { path: p, url } = route()
      server.set(p, { kind: 'file', body: githubArchive('1') })
      const { cacheDir, opts } = await setup()
      const { commit } = await fetchTarOverlay(opts(url))
      server.set(p, { kind: 'file', body: tarGz(members) })
      const err = await caught(fetchTarOverlay(opts(url)))
      expect(err.code).toBe('UNSAFE_PATH')
      expect(err.message).toContain(`"${entry}"`)
      expect(err.context.overlay).toBe('ov')
      await expectVersion1Intact(cacheDir, commit)
    })

    it('keeps a hard link to a file stored earlier', async () => {
      const { path: p, url } = route()
      server.set(p, { kind: 'file', body: githubArchive('1', [{ name: 'ov-main/profiles/alias', type: '1', linkname: 'ov-main/profiles/repo_name' }]) })
      const { cacheDir, opts } = await setup()
      await fetchTarOverlay(opts(url))
      const tree = (await openTarTree(cacheDir, 'ov'))!
      expect((await tree.readFile('profiles/alias'))?.toString()).toBe('ov\n')
    })
  })

  it('refuses a fifo and strips setuid in a tarball made by the system tar', async () => {
    const src = await testDir()
    await mkdir(path.join(src, 'top/cat/pkg'), { recursive: true })
    await writeFile(path.join(src, 'top/cat/pkg/tool'), 'x')
    await chmod(path.join(src, 'top/cat/pkg/tool'), 0o4777)
    await symlink('tool', path.join(src, 'top/cat/pkg/alias'))
    const good = path.join(src, 'good.tar.gz')
    execFileSync('tar', ['-czf', good, '-C', src, 'top'])
    execFileSync('mkfifo', [path.join(src, 'top/cat/pkg/pipe')])
    const bad = path.join(src, 'bad.tar.gz')
    execFileSync('tar', ['-czf', bad, '-C', src, 'top'])
    const { readFile } = await import('node:fs/promises')
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: await readFile(good) })
    const { cacheDir, opts } = await setup()
    await fetchTarOverlay(opts(url))
    const root = path.join(cacheDir, await readlink(path.join(cacheDir, 'current')))
    expect((await stat(path.join(root, 'cat/pkg/tool'))).mode & 0o7777).toBe(0o755)
    server.set(p, { kind: 'file', body: await readFile(bad) })
    const err = await caught(fetchTarOverlay(opts(url)))
    expect(err.code).toBe('UNSAFE_PATH')
    expect(err.message).toContain('top/cat/pkg/pipe')
  })
})

describe('http client', () => {
  it('follows a redirect to http', async () => {
    const { path: p, url } = route()
    server.set(p, { kind: 'file', body: 'payload' })
    server.set('/moved', { kind: 'redirect', location: p })
    const res = await fetchBuffer(`${server.url}/moved`)
    expect(res.body?.toString()).toBe('payload')
    expect(res.url).toBe(url)
  })

  it.each([['file:///etc/passwd'], ['ftp://example.org/x'], ['data:,hello']])('refuses a redirect to %s', async (target) => {
    server.set('/evil', { kind: 'redirect', location: target })
    const err = await caught(httpGet(`${server.url}/evil`))
    expect(err.code).toBe('UNSAFE_PATH')
    expect(err.message).toContain(target)
  })

  it('gives up after 5 redirects', async () => {
    server.set('/loop', { kind: 'redirect', location: '/loop' })
    const err = await caught(httpGet(`${server.url}/loop`))
    expect(err.code).toBe('FETCH_FAILED')
    expect(err.message).toContain('too many redirects')
    expect(server.requests.filter((r) => r.path === '/loop')).toHaveLength(6)
  })

  it('refuses a Content-Length over the limit before reading the body', async () => {
    server.set('/big', { kind: 'file', body: Buffer.alloc(5000) })
    const err = await caught(httpGet(`${server.url}/big`, { maxBytes: 4999 }))
    expect(err.code).toBe('FETCH_FAILED')
    expect(err.message).toContain('5000 bytes')
  })

  it('fails on the overall timeout', async () => {
    server.set('/slow', { kind: 'stall', body: Buffer.alloc(100), afterBytes: 10 })
    const err = await caught(fetchBuffer(`${server.url}/slow`, { timeoutMs: 300 }))
    expect(err.code).toBe('SOURCE_UNREACHABLE')
    expect(err.message).toContain('longer than 300 ms')
  })

  it('rejects with the abort reason when the caller cancels', async () => {
    server.set('/hang', { kind: 'stall', body: Buffer.alloc(100), afterBytes: 10 })
    const controller = new AbortController()
    const pending = fetchBuffer(`${server.url}/hang`, { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('user cancelled')), 100)
    await expect(pending).rejects.toThrow('user cancelled')
  })

  it('verifies TLS certificates, whatever NODE_TLS_REJECT_UNAUTHORIZED says', async () => {
    const dir = await testDir()
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    const { readFile } = await import('node:fs/promises')
    const tlsServer = await startStaticServer({ tls: { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') } })
    onTestFinished(() => tlsServer.close())
    tlsServer.set('/x', { kind: 'file', body: 'secret' })
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0' // must not weaken olm's client
    onTestFinished(() => {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved
    })
    const err = await caught(fetchBuffer(`${tlsServer.url}/x`))
    expect(err.code).toBe('SOURCE_UNREACHABLE')
    expect(err.message).toContain('SELF_SIGNED')
    expect(err.context.url).toBe(`${tlsServer.url}/x`)
  })

  it('reports progress with the announced total', async () => {
    server.set('/progress', { kind: 'file', body: Buffer.alloc(70_000) })
    const seen: [number, number | undefined][] = []
    await fetchBuffer(`${server.url}/progress`, { onProgress: (loaded, total) => seen.push([loaded, total]) })
    expect(seen.at(-1)).toEqual([70_000, 70_000])
  })
})
