import { cp, lstat, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeBareRepo } from '../helpers/bare-repo.js'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { runOlm, snapshotTree } from '../helpers/olm.js'
import { FIXTURES, makeSystem } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

// Issue 5: overlays without metadata/md5-cache are evaluated in bash, and give
// the same repository as the same overlay with its cache.
const missing = gitHttpBackendMissing()
let server: GitServer
let dir: string

/** Serves fixture `name` twice: as is (`name.git`) and without its md5-cache (`name-nocache.git`). */
async function publishBoth(name: string): Promise<void> {
  await makeBareRepo(path.join(FIXTURES, name), path.join(dir, 'git', `${name}.git`))
  const copy = path.join(dir, 'src', name)
  await cp(path.join(FIXTURES, name), copy, { recursive: true, verbatimSymlinks: true })
  await rm(path.join(copy, 'metadata/md5-cache'), { recursive: true })
  await makeBareRepo(copy, path.join(dir, 'git', `${name}-nocache.git`))
}

beforeAll(async () => {
  if (missing) return
  dir = await suiteDir('olm-metadata-')
  await publishBoth('tenstorrent')
  await publishBoth('guru')
  server = await startGitServer({ root: path.join(dir, 'git') })
})
afterAll(async () => {
  await server?.close()
  if (dir) await removeDir(dir)
})

async function addInto(repos: Record<string, string>, ...args: string[]) {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: repos })
  const r = await runOlm(['add', ...args, '--root', root])
  const repo = path.join(root, 'var/db/repos/overlayman')
  return { r: { ...r, root }, repo }
}

/** The generated tree, with the provenance file's commit ids (which differ between the two repos) blanked. */
async function comparable(repo: string) {
  const snap = await snapshotTree(repo + '/')
  const prov = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
  for (const list of [prov.packages, prov.eclasses, prov.licenses]) for (const item of list) item.commit = '-'
  snap.delete('metadata/overlayman.json')
  return { snap, prov }
}

describe.skipIf(missing)('metadata from the ebuilds themselves', () => {
  it('virtual/tenstorrent from the cache-less overlay pulls the whole stack and its license', async () => {
    const { r, repo } = await addInto({ tenstorrent: 'tenstorrent-nocache.git' }, 'virtual/tenstorrent::tenstorrent')
    expect(r.code, r.stderr).toBe(0)
    const prov = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
    expect(prov.packages).toHaveLength(12)
    expect(prov.licenses.map((l: { license: string }) => l.license)).toEqual(['Tenstorrent-EULA'])
    // evaluated metadata is written in md5-cache form for emerge and eix
    const entry = await readFile(path.join(repo, 'metadata/md5-cache/sys-kernel/tt-kmd-9999'), 'utf8')
    expect(entry).toBe(await readFile(path.join(FIXTURES, 'tenstorrent/metadata/md5-cache/sys-kernel/tt-kmd-9999'), 'utf8'))
  })

  it.each([
    ['tenstorrent', 'virtual/tenstorrent::tenstorrent'],
    ['guru', 'app-voices/voxctl::guru'],
  ])('%s: the same repository with and without the overlay md5-cache', async (name, request) => {
    const withCache = await addInto({ [name]: `${name}.git` }, request)
    const without = await addInto({ [name]: `${name}-nocache.git` }, request)
    expect(withCache.r.code, withCache.r.stderr).toBe(0)
    expect(without.r.code, without.r.stderr).toBe(0)
    expect(await comparable(without.repo)).toEqual(await comparable(withCache.repo))
  })

  it('an ebuild that dies is left out by name and the others are copied', async () => {
    const src = path.join(dir, 'src', 'broken')
    await cp(path.join(dir, 'src', 'tenstorrent'), src, { recursive: true, verbatimSymlinks: true })
    await writeFile(path.join(src, 'sys-kernel/tt-kmd/tt-kmd-1.35.ebuild'), 'EAPI=8\ndie "this ebuild is broken on purpose"\n')
    await makeBareRepo(src, path.join(dir, 'git', 'broken.git'))
    const { r, repo } = await addInto({ tenstorrent: 'broken.git' }, 'sys-kernel/tt-kmd::tenstorrent')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/sys-kernel\/tt-kmd-1\.35::tenstorrent is left out: .*broken on purpose/)
    const files = [...(await snapshotTree(repo + '/')).keys()].filter((f) => f.endsWith('.ebuild'))
    expect(files).toEqual(['sys-kernel/tt-kmd/tt-kmd-1.34.ebuild', 'sys-kernel/tt-kmd/tt-kmd-9999.ebuild'])
  })

  /**
   * A release made a symlink to another ebuild of its package, as a real
   * overlay (Pentoo) does: olm listed only regular files as ebuilds and dropped
   * the link without a word, so that version was never copied.
   */
  describe('an ebuild that is a symlink to another of its package', () => {
    /** The tenstorrent fixture (with or without its md5-cache) and tt-kmd-1.36.ebuild -> tt-kmd-1.35.ebuild. */
    async function publishLinked(name: string, withCache: boolean): Promise<string> {
      const src = path.join(dir, 'src', name)
      await cp(path.join(withCache ? FIXTURES : path.join(dir, 'src'), 'tenstorrent'), src, { recursive: true, verbatimSymlinks: true })
      await symlink('tt-kmd-1.35.ebuild', path.join(src, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'))
      // egencache writes an entry for a linked ebuild too: the same as its target's, as the bytes are.
      if (withCache) await cp(path.join(src, 'metadata/md5-cache/sys-kernel/tt-kmd-1.35'), path.join(src, 'metadata/md5-cache/sys-kernel/tt-kmd-1.36'))
      await makeBareRepo(src, path.join(dir, 'git', `${name}.git`))
      return `${name}.git`
    }

    it.each([
      ['linked-nocache', false],
      ['linked-cache', true],
    ])('%s: it is a version, copied as the link it is, with its md5-cache entry', async (name, withCache) => {
      const { r, repo } = await addInto({ tenstorrent: await publishLinked(name as string, withCache as boolean) }, 'sys-kernel/tt-kmd::tenstorrent')
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/^ {2}N sys-kernel\/tt-kmd::tenstorrent 1\.34 1\.35 1\.36 9999$/m)
      expect(await readlink(path.join(repo, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'))).toBe('tt-kmd-1.35.ebuild')
      const entry = await readFile(path.join(repo, 'metadata/md5-cache/sys-kernel/tt-kmd-1.36'), 'utf8')
      const target = await readFile(path.join(repo, 'metadata/md5-cache/sys-kernel/tt-kmd-1.35'), 'utf8')
      const md5Line = (e: string) => e.split('\n').find((l) => l.startsWith('_md5_='))
      expect(md5Line(entry)).toBe(md5Line(target)) // the bytes of the file the link leads to
      // The overlay's entry is copied; evaluated, the ebuild is sourced as version 1.36 (PV from its name, as portage does).
      if (withCache) expect(entry).toBe(target)
      else expect(entry).toMatch(/^SRC_URI=.*ttkmd-1\.36\.tar\.gz -> tt-kmd-1\.36\.tar\.gz$/m)
    })

    /** The cache-less tenstorrent fixture with `edit` applied to sys-kernel/tt-kmd. */
    async function publishEdited(name: string, edit: (pkgDir: string) => Promise<void>): Promise<string> {
      const src = path.join(dir, 'src', name)
      await cp(path.join(dir, 'src', 'tenstorrent'), src, { recursive: true, verbatimSymlinks: true })
      await edit(path.join(src, 'sys-kernel/tt-kmd'))
      await makeBareRepo(src, path.join(dir, 'git', `${name}.git`))
      return `${name}.git`
    }
    const danglingIn = async (repo: string) => {
      const out: string[] = []
      for (const [rel, e] of await snapshotTree(repo + '/')) if (e.type === 'symlink' && !(await lstat(path.resolve(repo, path.dirname(rel), await readlink(path.join(repo, rel)))).catch(() => null))) out.push(rel)
      return out
    }

    // Found by review: only the end of a chain was looked at, so a link to a link left out dangled.
    it.each([
      ['narrowed out', '>=sys-kernel/tt-kmd-1.35::tenstorrent', ''],
      ['left out, its metadata failing', 'sys-kernel/tt-kmd::tenstorrent', '[[ ${PV} == 1.33 ]] && die "no 1.33"\n'],
    ])('a chain of links through an ebuild %s is written as the file it ends at', async (_how, request, dies) => {
      const repoName = await publishEdited(`chain-${dies ? 'dies' : 'narrow'}`, async (d) => {
        if (dies) await writeFile(path.join(d, 'tt-kmd-1.35.ebuild'), (await readFile(path.join(d, 'tt-kmd-1.35.ebuild'), 'utf8')).replace('EAPI=8\n', `EAPI=8\n${dies}`))
        await symlink('tt-kmd-1.35.ebuild', path.join(d, 'tt-kmd-1.33.ebuild'))
        await symlink('tt-kmd-1.33.ebuild', path.join(d, 'tt-kmd-1.36.ebuild'))
      })
      const { r, repo } = await addInto({ tenstorrent: repoName }, request)
      expect(r.code, r.stderr).toBe(0)
      expect(await danglingIn(repo)).toEqual([])
      expect((await lstat(path.join(repo, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'))).isFile()).toBe(true)
      expect(await readFile(path.join(repo, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'), 'utf8')).toContain('EAPI=8')
    })

    // Found by review: such links were dropped without a word, though the contract refuses them.
    it.each([
      ['another package', '../../dev-python/tt-smi/tt-smi-3.0.5.ebuild'],
      ['an absolute path', '/etc/passwd'],
    ])('an ebuild linking to %s is refused, naming it', async (_what, target) => {
      const repoName = await publishEdited(`leave-${target.startsWith('/') ? 'abs' : 'rel'}`, (d) => symlink(target, path.join(d, 'tt-kmd-1.36.ebuild')))
      const { r, repo } = await addInto({ tenstorrent: repoName }, 'sys-kernel/tt-kmd::tenstorrent')
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/sys-kernel\/tt-kmd\/tt-kmd-1\.36\.ebuild in ::tenstorrent is a symlink to .* which leaves its package directory/)
      expect(await lstat(repo).catch(() => null)).toBeNull()
    })

    it('olm search finds a package whose ebuilds are all links', async () => {
      const repoName = await publishEdited('all-links', async (d) => {
        await rm(path.join(d, 'tt-kmd-1.34.ebuild'))
        await rm(path.join(d, 'tt-kmd-9999.ebuild'))
        await cp(path.join(d, 'tt-kmd-1.35.ebuild'), path.join(d, 'files', 'live.ebuild-text'))
        await rm(path.join(d, 'tt-kmd-1.35.ebuild'))
        await symlink('files/live.ebuild-text', path.join(d, 'tt-kmd-1.35.ebuild'))
        await symlink('gone.ebuild', path.join(d, 'tt-kmd-99999.ebuild')) // leads nowhere: no version, here or in search
      })
      const { r } = await addInto({ tenstorrent: repoName }, 'sys-kernel/tt-kmd::tenstorrent')
      expect(r.code, r.stderr).toBe(0)
      const root = path.resolve(r.root)
      const found = await runOlm(['search', 'Kernel driver', '--root', root])
      expect(found.stdout).toMatch(/^sys-kernel\/tt-kmd::tenstorrent\tKernel driver for Tenstorrent/m)
    })

    it('narrowed to the link alone: the link is written as the file it leads to, never dangling', async () => {
      const { r, repo } = await addInto({ tenstorrent: await publishLinked('linked-narrow', false) }, '=sys-kernel/tt-kmd-1.36::tenstorrent')
      expect(r.code, r.stderr).toBe(0)
      const ebuilds = [...(await snapshotTree(repo + '/')).keys()].filter((f) => f.startsWith('sys-kernel/tt-kmd/') && f.endsWith('.ebuild'))
      expect(ebuilds).toEqual(['sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'])
      expect((await lstat(path.join(repo, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'))).isFile()).toBe(true)
      expect(await readFile(path.join(repo, 'sys-kernel/tt-kmd/tt-kmd-1.36.ebuild'))).toEqual(await readFile(path.join(FIXTURES, 'tenstorrent/sys-kernel/tt-kmd/tt-kmd-1.35.ebuild')))
    })
  })

  it('a pulled package whose every ebuild dies: what needs it is said to stay unmet', async () => {
    const src = path.join(dir, 'src', 'pulled-broken')
    await cp(path.join(dir, 'src', 'tenstorrent'), src, { recursive: true, verbatimSymlinks: true })
    for (const v of ['3.0.5', '9999']) await writeFile(path.join(src, `dev-python/tt-smi/tt-smi-${v}.ebuild`), 'EAPI=8\ninherit no-such-eclass\n')
    await makeBareRepo(src, path.join(dir, 'git', 'pulled-broken.git'))
    const { r } = await addInto({ tenstorrent: 'pulled-broken.git' }, 'virtual/tenstorrent::tenstorrent')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/dev-python\/tt-smi::tenstorrent, needed by virtual\/tenstorrent-1\.0 \(RDEPEND dev-python\/tt-smi\), has no usable ebuild: that dependency stays unmet/)
    // said once, not for the requested package, whose own line says it
    expect(r.stderr.match(/has no usable ebuild/g)).toHaveLength(1)
  })

  it('a requested package whose every ebuild dies is said to have none usable', async () => {
    const src = path.join(dir, 'src', 'all-broken')
    await cp(path.join(dir, 'src', 'tenstorrent'), src, { recursive: true, verbatimSymlinks: true })
    for (const v of ['1.34', '1.35', '9999']) await writeFile(path.join(src, `sys-kernel/tt-kmd/tt-kmd-${v}.ebuild`), 'EAPI=8\ninherit no-such-eclass\n')
    await makeBareRepo(src, path.join(dir, 'git', 'all-broken.git'))
    const { r, repo } = await addInto({ tenstorrent: 'all-broken.git' }, 'sys-kernel/tt-kmd::tenstorrent')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^ {2}N sys-kernel\/tt-kmd::tenstorrent \(no usable ebuild: the sync's warnings say why\)$/m)
    expect(r.stderr.match(/sys-kernel\/tt-kmd-[0-9.]+::tenstorrent is left out: .*no-such-eclass/g)).toHaveLength(3)
    expect([...(await snapshotTree(repo + '/')).keys()].filter((f) => f.endsWith('.ebuild'))).toEqual([])
    const list = await runOlm(['list', '--root', path.resolve(repo, '../../../..')])
    expect(list.stdout).toMatch(/^sys-kernel\/tt-kmd::tenstorrent \(no usable ebuild: the sync's warnings say why\) @/m)
  })
})
