import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { materialize } from '../helpers/bare-repo.js'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { type MiniOverlay, writeMiniOverlay } from '../helpers/mini-overlay.js'
import { runOlm, snapshotTree } from '../helpers/olm.js'
import { type GraftEntry, graftCommit, makeTarGz, membersOf, type TarMember } from '../helpers/reliability-hostile.js'
import { configState, makeRoot, publishMiniOverlay, publishedTree, SMALL_OVERLAY } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * Overlays written by strangers: every hostile entry is refused with a
 * message naming it, or contained (modes normalized); nothing outside the
 * generated repository and the cache is ever touched.
 */
const missing = gitHttpBackendMissing()
let server: GitServer
let work: string
let outside: string
let smallDir: string

beforeAll(async () => {
  if (missing) return
  work = await suiteDir('olm-hostile-')
  outside = path.join(work, 'outside')
  await mkdir(outside)
  await writeFile(path.join(outside, 'secret'), 'not for overlays\n')
  await mkdir(path.join(work, 'git'))
  await mkdir(path.join(work, 'static'))
  smallDir = await materialize({})
  await writeMiniOverlay(smallDir, SMALL_OVERLAY)
  server = await startGitServer({ root: path.join(work, 'git'), staticDir: path.join(work, 'static') })
})
afterAll(async () => {
  await server?.close()
  if (work) await removeDir(work)
  if (smallDir) await removeDir(smallDir)
})

type Expect = { refused: RegExp; code?: number } | { contained: (repo: string) => Promise<void>; warning?: RegExp }

let n = 0
/** Runs `olm add atom::hostile` on a fresh root and checks the outcome and that nothing else was touched. */
async function attempt(overlayUri: string, atom: string, want: Expect, extra: string[] = []): Promise<void> {
  const root = path.join(work, `root${n++}`)
  const { repo } = await makeRoot(root, { serverUrl: server.url, overlays: {} })
  await writeFile(path.join(root, 'etc/overlayman/overlays.d/hostile.conf'), `[hostile]\nsync-uri = ${overlayUri}\n`)
  const config = await configState(root)
  const outsideBefore = await snapshotTree(outside)
  const r = await runOlm(['add', ...extra, `${atom}::hostile`, '--root', root])
  if ('refused' in want) {
    expect(r.stderr).toMatch(want.refused)
    expect(r.code).toBe(want.code ?? 1)
    expect(await publishedTree(repo)).toBeNull()
    expect(await configState(root)).toEqual(config)
    expect((await readdir(path.join(root, 'var/db/repos'))).sort()).toEqual(['gentoo'])
  } else {
    expect(r.code).toBe(0)
    if (want.warning) expect(r.stderr).toMatch(want.warning)
    else expect(r.stderr).toBe('')
    await want.contained(repo)
  }
  expect(await snapshotTree(outside)).toEqual(outsideBefore)
  // nothing appeared at the top of the root or beside it
  expect((await readdir(root)).sort()).toEqual(['etc', 'var'])
  expect((await readdir(path.join(root, 'var'))).sort()).toEqual(['cache', 'db'])
}

async function gitOverlay(graft: GraftEntry[], base: MiniOverlay = SMALL_OVERLAY): Promise<string> {
  const name = `g${n++}.git`
  await publishMiniOverlay(path.join(work, 'git', name), base)
  if (graft.length) await graftCommit(path.join(work, 'git', name), graft)
  return `${server.url}/${name}`
}

const link = (p: string, target: string): GraftEntry => ({ parts: p.split('/'), mode: '120000', content: target })
const file = (parts: string[], mode = '100644', content = 'x\n'): GraftEntry => ({ parts, mode, content })
const modeOf = async (p: string) => (await lstat(p)).mode & 0o7777

describe.skipIf(missing).concurrent('hostile git overlays', () => {
  it.each([
    ['a symlink leaving its package dir', [link('app-misc/foo/files/up', '../../../dev-libs/bar/files/bar-1-fix.patch')], /files\/up.*leaves its package/],
    ['a symlink to an absolute path', [link('app-misc/foo/files/abs', '/etc/shadow')], /files\/abs.*leaves its package/],
    ['a symlink leaving the overlay', [link('app-misc/foo/files/far', '../../../../../../../../../../outside/secret')], /files\/far/],
    ['a ".." entry in a package', [file(['app-misc', 'foo', 'files', '..'])], /::hostile.*"app-misc\/foo\/files".*unsafe/],
    ['a "." entry in a package', [file(['app-misc', 'foo', '.'])], /::hostile.*"app-misc\/foo".*unsafe/],
    ['a ".." directory in a package', [file(['app-misc', 'foo', '..', '..', '..', 'pwned'])], /::hostile.*"app-misc\/foo".*unsafe/],
    ['a control character in a file name', [file(['app-misc', 'foo', 'files', 'bad\x1bname'])], /::hostile.*files\/bad\\u001bname.*control character/],
    ['a newline in a file name', [file(['app-misc', 'foo', 'files', 'two\nlines'])], /::hostile.*files\/two\\nlines.*control character/],
    ['a setuid mode in the tree', [file(['app-misc', 'foo', 'files', 'suid'], '104755')], /::hostile.*mode git never writes \(104755\)/],
  ] as [string, GraftEntry[], RegExp][])('refuses %s', async (_name, graft, message) => {
    await attempt(await gitOverlay(graft), 'app-misc/foo', { refused: message })
  })

  it('refuses a package dir that is a symlink', async () => {
    const uri = await gitOverlay([link('app-misc/evil', '../dev-libs/bar')])
    await attempt(uri, 'app-misc/evil', { refused: /app-misc\/evil/, code: 2 })
  })

  it('refuses a world-writable mode in the tree', async () => {
    await attempt(await gitOverlay([file(['app-misc', 'foo', 'files', 'ww'], '100777')]), 'app-misc/foo', { refused: /::hostile.*mode git never writes \(100777\)/ })
  })

  it('contains an eclass that is a symlink out of the overlay: not copied, the masters\' is used', async () => {
    await attempt(await gitOverlay([link('eclass/small-utils.eclass', '/etc/shadow')]), 'app-misc/foo', {
      warning: /app-misc\/foo-1::hostile inherits small-utils, whose eclass\/small-utils\.eclass is a symlink olm does not copy/,
      contained: async (repo) => expect((await snapshotTree(repo + '/')).has('eclass')).toBe(false),
    })
  })

  it('contains a license that is a symlink: not copied, with a warning', async () => {
    await attempt(await gitOverlay([link('licenses/Small-EULA', '../../outside/secret')]), 'app-misc/foo', {
      warning: /license Small-EULA of app-misc\/foo-1::hostile is in neither the overlay nor the local tree/,
      contained: async (repo) => expect((await snapshotTree(repo + '/')).has('licenses')).toBe(false),
    })
  })

  it.each([
    ['an eclass name with "/"', { 'app-misc/evil-1': { inherit: '../../../outside/secret' } }, /inherits "\.\.\/\.\.\/\.\.\/outside\/secret", which is not a valid eclass name/],
    ['a license name with "/"', { 'app-misc/evil-1': { LICENSE: '../../../../outside/secret' } }, /LICENSE of app-misc\/evil-1::hostile is malformed/],
    ['a dependency named like an option', { 'app-misc/evil-1': { RDEPEND: 'app-misc/-rf' } }, /RDEPEND of app-misc\/evil-1::hostile is malformed.*-rf/],
  ] as [string, MiniOverlay['ebuilds'], RegExp | undefined][])('contains %s: nothing but the package is copied', async (_name, ebuilds, warning) => {
    const uri = await gitOverlay([], { name: 'hostile', categories: ['app-misc'], ebuilds })
    await attempt(uri, 'app-misc/evil', {
      warning,
      contained: async (repo) => {
        const names = [...(await snapshotTree(repo + '/')).keys()]
        expect(names.filter((k) => !/^(app-misc|profiles|metadata)(\/|$)/.test(k))).toEqual([])
      },
    })
  })

  it.each([['app-misc/-rf'], ['-rf/foo'], ['app-misc/foo --root /']])('refuses the package name %s as an argument', async (atom) => {
    await attempt(await gitOverlay([]), atom, { refused: /-rf|--root|not a valid|invalid/, code: 2 })
  })
})

describe.skipIf(missing).concurrent('hostile tarball overlays', () => {
  async function tarOverlay(extra: TarMember[]): Promise<string> {
    const name = `t${n++}.tar.gz`
    await writeFile(path.join(work, 'static', name), makeTarGz([...(await membersOf(smallDir, 'small-1.0')), ...extra]))
    return `${server.url}/${name}`
  }
  const top = 'small-1.0/app-misc/foo/files'

  it.each([
    ['a character device', [{ name: `${top}/tty`, type: '3' }], /files\/tty.*CharacterDevice entries are not allowed/],
    ['a block device', [{ name: `${top}/sda`, type: '4' }], /files\/sda.*BlockDevice entries are not allowed/],
    ['a fifo', [{ name: `${top}/pipe`, type: '6' }], /files\/pipe.*FIFO entries are not allowed/],
    ['a ".." path', [{ name: 'small-1.0/../../outside/pwned', content: 'x' }], /outside\/pwned/],
    ['an absolute path', [{ name: '/tmp/olm-hostile-pwned', content: 'x' }], /olm-hostile-pwned/],
    ['a control character in a name', [{ name: `${top}/bad\x07name`, content: 'x' }], /control character/],
    ['a hard link to a system file', [{ name: `${top}/passwd`, type: '1', linkname: '/etc/passwd' }], /passwd/],
    ['a symlink leaving the tree', [{ name: `${top}/esc`, type: '2', linkname: '../../../../../outside' }], /esc/],
    ['a file written through a symlink', [{ name: `${top}/dir`, type: '2', linkname: '.' }, { name: `${top}/dir/x`, content: 'x' }], /dir/],
  ] as [string, TarMember[], RegExp][])('refuses %s', async (_name, extra, message) => {
    await attempt(await tarOverlay(extra), 'app-misc/foo', { refused: message })
  })

  it('contains setuid, setgid, sticky and world-writable modes', async () => {
    const uri = await tarOverlay([
      { name: `${top}/suid`, mode: 0o4755, content: '#!/bin/sh\n' },
      { name: `${top}/sgid`, mode: 0o2775, content: 'x' },
      { name: `${top}/ww`, mode: 0o666, content: 'x' },
      { name: `${top}/sticky/`, type: '5', mode: 0o1777 },
      { name: `${top}/sticky/f`, mode: 0o646, content: 'x' },
    ])
    await attempt(uri, 'app-misc/foo', {
      contained: async (repo) => {
        const files = path.join(repo, 'app-misc/foo/files')
        expect(await modeOf(path.join(files, 'suid'))).toBe(0o755)
        expect(await modeOf(path.join(files, 'sgid'))).toBe(0o755)
        expect(await modeOf(path.join(files, 'ww'))).toBe(0o644)
        expect(await modeOf(path.join(files, 'sticky'))).toBe(0o755)
        expect(await modeOf(path.join(files, 'sticky/f'))).toBe(0o644)
      },
    })
  })
})

describe.skipIf(missing)('hostile repositories.xml', () => {
  it.each([
    ['file://', 'file:///etc'],
    ['ext::', 'ext::sh -c touch% OUTSIDE/pwned'],
    ['ssh', 'git@github.com:evil/evil.git'],
  ])('an overlay whose only source is %s is refused, nothing run', async (_name, url) => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<repositories version="1.0">\n<repo quality="experimental" status="unofficial">\n<name>evil</name>\n<description>x</description>\n<owner type="person"><email>e@example.org</email></owner>\n<source type="git">${url.replace('OUTSIDE', outside)}</source>\n</repo>\n</repositories>\n`
    await writeFile(path.join(work, 'static/repositories.xml'), xml)
    const root = path.join(work, `root${n++}`)
    await makeRoot(root, { serverUrl: server.url, overlays: {} })
    const config = await configState(root)
    const r = await runOlm(['add', 'app-misc/foo::evil', '--root', root])
    expect(r.stderr).toMatch(/"evil".*no https git source/)
    expect(r.code).toBe(2)
    expect(await configState(root)).toEqual(config)
    expect(await readdir(outside)).toEqual(['secret'])
  })
})
