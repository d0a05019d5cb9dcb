import { createHash } from 'node:crypto'
import { cp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commitChange, makeBareRepo } from '../helpers/bare-repo.js'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { type OlmRun, runOlm, snapshotTree } from '../helpers/olm.js'
import { FIXTURES, makeSystem } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

// Issue 8: a sync whose inputs and local-tree reads are all unchanged stands
// on the last resolution (cache-dir/sync-witness.json) instead of resolving
// again. These tests change, one at a time, each thing a resolution reads,
// and check that the next sync notices it and gives the repository a full
// resolution would.
const missing = gitHttpBackendMissing()
let server: GitServer
let dir: string

const REUSED = /nothing it depends on changed since the last sync/
const RESOLVED = /^resolved \d+ packages/m

beforeAll(async () => {
  if (missing) return
  dir = await suiteDir('olm-witness-')
  await makeBareRepo(path.join(FIXTURES, 'tenstorrent'), path.join(dir, 'git/tenstorrent.git'))
  await makeBareRepo(path.join(FIXTURES, 'guru'), path.join(dir, 'git/guru.git'))
  const copy = path.join(dir, 'src/tenstorrent')
  await cp(path.join(FIXTURES, 'tenstorrent'), copy, { recursive: true, verbatimSymlinks: true })
  await rm(path.join(copy, 'metadata/md5-cache'), { recursive: true })
  await makeBareRepo(copy, path.join(dir, 'git/tenstorrent-nocache.git'))
  server = await startGitServer({ root: path.join(dir, 'git') })
})
afterAll(async () => {
  await server?.close()
  if (dir) await removeDir(dir)
})

function ok(r: OlmRun): OlmRun {
  expect({ code: r.code, stderr: r.stderr.split('\n').filter((l) => l.startsWith('olm: ')) }).toEqual({ code: 0, stderr: [] })
  return r
}

async function system(overlay: string, request: string, name = 'tenstorrent') {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: { [name]: overlay } })
  const olm = (...args: string[]) => runOlm([...args, '--root', root])
  const repo = path.join(root, 'var/db/repos/overlayman')
  const gentoo = path.join(root, 'var/db/repos/gentoo')
  const added = ok(await olm('add', request, '-v'))
  const packages = async () =>
    (JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8')) as { packages: { package: string }[] }).packages.map((p) => p.package).sort()
  return { root, olm, repo, gentoo, packages, added }
}

describe.skipIf(missing)('a sync with nothing changed stands on the last resolution', () => {
  it('does not resolve again, and leaves the repository as it was', async () => {
    const { olm, repo } = await system('tenstorrent.git', 'dev-python/tt-flash::tenstorrent')
    const before = await snapshotTree(repo)
    const generation = await readlink(repo)
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(REUSED)
    expect(r.stdout).toMatch(/nothing changed/)
    expect(await readlink(repo)).toBe(generation)
    expect(await snapshotTree(repo)).toEqual(before)
  })

  it('resolves again when ::gentoo gains a version that now satisfies a dependency', async () => {
    const { olm, gentoo, packages } = await system('tenstorrent.git', 'dev-python/tt-flash::tenstorrent')
    // tt-flash needs >=dev-python/requests-2.32; ::gentoo has only 2.31.0, so the overlay's is pulled.
    expect(await packages()).toContain('dev-python/requests')
    await cp(path.join(gentoo, 'dev-python/requests/requests-2.31.0.ebuild'), path.join(gentoo, 'dev-python/requests/requests-2.32.4.ebuild'))
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(RESOLVED)
    expect(r.stdout).toMatch(/D dev-python\/requests::tenstorrent/)
    expect(await packages()).not.toContain('dev-python/requests')
    // ...and the sync after that has nothing new to read.
    expect(ok(await olm('sync', '-v')).stderr).toMatch(REUSED)
  })

  it('resolves again when a master eclass an evaluated ebuild inherits changes', async () => {
    // Without the overlay's md5-cache, tt-kmd-9999's dependencies come from sourcing ::gentoo's git-r3.eclass.
    const { olm, gentoo, packages } = await system('tenstorrent-nocache.git', '=sys-kernel/tt-kmd-9999::tenstorrent')
    expect(await packages()).toEqual(['sys-kernel/tt-kmd'])
    expect(ok(await olm('sync', '-v')).stderr).toMatch(REUSED)
    const eclass = path.join(gentoo, 'eclass/git-r3.eclass')
    const text = await readFile(eclass, 'utf8')
    await writeFile(eclass, text.replace('BDEPEND=">=dev-vcs/git-1.8.2.1[curl]"', 'BDEPEND=">=dev-vcs/git-1.8.2.1[curl] >=dev-python/requests-2.32"'))
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(RESOLVED)
    expect(await packages()).toEqual(['dev-python/requests', 'sys-kernel/tt-kmd'])
  })

  it('resolves again when the witness is missing or damaged, to the same repository', async () => {
    const { root, olm, repo } = await system('tenstorrent.git', 'virtual/tenstorrent::tenstorrent')
    const witness = path.join(root, 'var/cache/overlayman/sync-witness.json')
    const generation = await readlink(repo)
    const before = await snapshotTree(repo)
    await rm(witness)
    expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
    await writeFile(witness, '{"format":1,"inputs":')
    expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
    // a header of valid JSON and the wrong shape: its reads are no reads
    const [header, ...body] = (await readFile(witness, 'utf8')).split('\n')
    await writeFile(witness, [JSON.stringify({ ...JSON.parse(header!), reads: [42, null] }), ...body].join('\n'))
    expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
    // cut short: the overlay reads the header places are not all there
    const whole = await readFile(witness)
    await writeFile(witness, whole.subarray(0, whole.length - 10))
    expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
    expect(await readlink(repo)).toBe(generation)
    expect(await snapshotTree(repo)).toEqual(before)
  })

  it('resolves again when the generation it names is no longer the published one', async () => {
    const { root, olm, repo, packages } = await system('tenstorrent.git', 'dev-python/tt-flash::tenstorrent')
    const witness = path.join(root, 'var/cache/overlayman/sync-witness.json')
    const saved = await readFile(witness)
    // Another request published a new generation; then the witness of the old one is put back.
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    await writeFile(witness, saved)
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(RESOLVED)
    expect(await packages()).toContain('sys-kernel/tt-kmd')
    expect(await readlink(repo)).toMatch(/g-[0-9a-f]{24}$/)
  })

  describe('an upstream commit', () => {
    let n = 0
    /** A repository of its own, so the commits of one test are not seen by another. */
    async function moving(request: string) {
      const repoName = `tenstorrent-moving-${n++}.git`
      const bare = path.join(dir, 'git', repoName)
      await makeBareRepo(path.join(FIXTURES, 'tenstorrent'), bare)
      return { bare, ...(await system(repoName, request)) }
    }
    const fixture = (rel: string) => readFile(path.join(FIXTURES, 'tenstorrent', rel), 'utf8')

    it('that changes only packages olm does not copy is not resolved, and the repository is kept', async () => {
      const { bare, olm, repo } = await moving('dev-python/tt-flash::tenstorrent')
      const generation = await readlink(repo)
      const before = await snapshotTree(repo)
      // A new version of a package in a category olm copies from, and a package it does not copy at all.
      await commitChange(bare, {
        'dev-python/tt-smi/tt-smi-3.0.6.ebuild': await fixture('dev-python/tt-smi/tt-smi-3.0.5.ebuild'),
        'metadata/md5-cache/dev-python/tt-smi-3.0.6': await fixture('metadata/md5-cache/dev-python/tt-smi-3.0.5'),
        'dev-util/tt-exalens/metadata.xml': (await fixture('dev-util/tt-exalens/metadata.xml')).replace('</pkgmetadata>', '<!-- edited --></pkgmetadata>'),
      })
      const r = ok(await olm('sync', '-v'))
      expect(r.stderr).toMatch(REUSED)
      expect(r.stdout).toMatch(/overlays updated, but the packages olm copies did not change/)
      expect(await readlink(repo)).toBe(generation)
      expect(await snapshotTree(repo)).toEqual(before)
      // The witness now stands for the new commit: the next sync has nothing to compare.
      const again = ok(await olm('sync', '-v'))
      expect(again.stderr).toMatch(REUSED)
      expect(again.stdout).toMatch(/nothing changed/)
      // ...and its reads, carried over unparsed, still tell the next commits apart.
      await commitChange(bare, { 'dev-util/tt-exalens/metadata.xml': (await fixture('dev-util/tt-exalens/metadata.xml')).replace('</pkgmetadata>', '<!-- twice --></pkgmetadata>') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(REUSED)
      const entry = 'metadata/md5-cache/dev-python/pyluwen-0.6.2'
      await commitChange(bare, { [entry]: (await fixture(entry)).replace(/^DESCRIPTION=.*$/m, 'DESCRIPTION=Changed upstream') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
      expect(await readFile(path.join(repo, entry), 'utf8')).toMatch(/^DESCRIPTION=Changed upstream$/m)
    })

    it('after the cache has merged its packs (every 20 updates) still stands on the last resolution', { timeout: 120_000 }, async () => {
      const { bare, olm, repo, root } = await moving('dev-python/tt-flash::tenstorrent')
      const generation = await readlink(repo)
      const packDir = async () => {
        const [cache] = await readdir(path.join(root, 'var/cache/overlayman/overlays'))
        return (await readdir(path.join(root, 'var/cache/overlayman/overlays', cache!, 'objects/pack'))).filter((n) => n.endsWith('.pack')).length
      }
      let merged = false
      for (let i = 0; i < 21; i++) {
        const before = await packDir()
        await commitChange(bare, { 'dev-util/tt-exalens/metadata.xml': (await fixture('dev-util/tt-exalens/metadata.xml')).replace('</pkgmetadata>', `<!-- ${i} --></pkgmetadata>`) })
        expect(ok(await olm('sync', '-v')).stderr).toMatch(REUSED)
        if ((await packDir()) < before) merged = true
      }
      expect(merged).toBe(true)
      expect(await readlink(repo)).toBe(generation)
    })

    it('that changes an eclass the overlay ships does not reuse what was learned from the md5-cache entries it invalidates', { timeout: 120_000 }, async () => {
      const repoName = `guru-moving-${n++}.git`
      const bare = path.join(dir, 'git', repoName)
      await makeBareRepo(path.join(FIXTURES, 'guru'), bare)
      const { olm, repo, root } = await system(repoName, 'app-voices/voxctl::guru', 'guru')
      expect(await readFile(path.join(root, 'var/cache/overlayman/metadata-memo.json'), 'utf8')).toMatch(/^olm metadata memo/)
      const eclass = 'eclass/voice-utils.eclass'
      const edited = (await readFile(path.join(FIXTURES, 'guru', eclass), 'utf8')) + '# changed upstream\n'
      await commitChange(bare, { [eclass]: edited })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
      // The entry no longer holds (its voice-utils md5 is the old one): olm evaluated the ebuild and wrote its own.
      const entry = await readFile(path.join(repo, 'metadata/md5-cache/app-voices/voxctl-1.0.0'), 'utf8')
      expect(entry).toContain(`voice-utils\t${createHash('md5').update(edited).digest('hex')}`)
      // ...exactly as a system that never resolved this overlay before makes it.
      const fresh = await system(repoName, 'app-voices/voxctl::guru', 'guru')
      const strip = (t: Map<string, unknown>) => (t.delete('metadata/overlayman.json'), t)
      expect(strip(await snapshotTree(repo))).toEqual(strip(await snapshotTree(fresh.repo)))
    })

    it('that edits an eclass no copied ebuild inherits is not resolved; one they inherit is', { timeout: 120_000 }, async () => {
      const repoName = `guru-moving-${n++}.git`
      const bare = path.join(dir, 'git', repoName)
      await makeBareRepo(path.join(FIXTURES, 'guru'), bare)
      // voxlib inherits nim-build, which inherits nim-utils; nothing it pulls inherits app-voice
      const { olm, repo } = await system(repoName, 'dev-nim/voxlib::guru', 'guru')
      const generation = await readlink(repo)
      const edit = async (eclass: string) => (await readFile(path.join(FIXTURES, 'guru', eclass), 'utf8')) + '# changed upstream\n'
      await commitChange(bare, { 'eclass/app-voice.eclass': await edit('eclass/app-voice.eclass') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(REUSED)
      expect(await readlink(repo)).toBe(generation)
      await commitChange(bare, { 'eclass/nim-utils.eclass': await edit('eclass/nim-utils.eclass') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
      expect(await readFile(path.join(repo, 'eclass/nim-utils.eclass'), 'utf8')).toMatch(/# changed upstream\n$/)
    })

    it('with damaged overlay reads in the witness is resolved, to the same files', async () => {
      const { bare, olm, repo, root } = await moving('dev-python/tt-flash::tenstorrent')
      const before = await snapshotTree(repo)
      const witness = path.join(root, 'var/cache/overlayman/sync-witness.json')
      const text = await readFile(witness, 'utf8')
      const nl = text.indexOf('\n')
      await writeFile(witness, text.slice(0, nl + 1) + 'x'.repeat(text.length - nl - 1))
      await commitChange(bare, { 'dev-util/tt-exalens/metadata.xml': (await fixture('dev-util/tt-exalens/metadata.xml')).replace('</pkgmetadata>', '<!-- edited --></pkgmetadata>') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
      // only the provenance differs: it names the commit resolved
      const after = await snapshotTree(repo)
      for (const tree of [before, after]) tree.delete('metadata/overlayman.json')
      expect(after).toEqual(before)
    })

    // A package directory is logged with its files' ids: a change to any of them, the name the same, is one.
    it.each([
      ['a patch in its files/', 'sys-kernel/tt-kmd/files/tt-kmd-1.34-linux-6.12.patch'],
      ['its metadata.xml', 'sys-kernel/tt-kmd/metadata.xml'],
      ['its Manifest', 'sys-kernel/tt-kmd/Manifest'],
    ])('that changes %s of a copied package is resolved, and the change copied', async (_what, file) => {
      const { bare, olm, repo } = await moving('sys-kernel/tt-kmd::tenstorrent')
      await commitChange(bare, { [file]: (await fixture(file)) + '<!-- one more line -->\n' })
      const r = ok(await olm('sync', '-v'))
      expect(r.stderr).toMatch(RESOLVED)
      expect(await readFile(path.join(repo, file), 'utf8')).toMatch(/<!-- one more line -->\n$/)
    })

    it('that changes the md5-cache entry of a copied ebuild is resolved', async () => {
      const { bare, olm, repo } = await moving('dev-python/tt-flash::tenstorrent')
      const entry = 'metadata/md5-cache/dev-python/pyluwen-0.6.2'
      const text = await fixture(entry)
      await commitChange(bare, { [entry]: text.replace(/^DESCRIPTION=.*$/m, 'DESCRIPTION=Changed upstream') })
      expect(ok(await olm('sync', '-v')).stderr).toMatch(RESOLVED)
      expect(await readFile(path.join(repo, entry), 'utf8')).toMatch(/^DESCRIPTION=Changed upstream$/m)
    })
  })

  it('repeats the warnings of the last resolution', async () => {
    // voxtray needs dev-libs/libvoxnet, which exists nowhere.
    const { olm, added } = await system('guru.git', 'app-voices/voxtray::guru', 'guru')
    const warnings = (r: OlmRun) => r.stderr.split('\n').filter((l) => /nothing satisfies|warning/i.test(l))
    expect(warnings(added).join('\n')).toMatch(/nothing satisfies dev-libs\/libvoxnet/)
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(REUSED)
    expect(warnings(r)).toEqual(warnings(added))
  })
})

describe.skipIf(missing)('an overlay pointed at another URL', () => {
  it('resolves from the new one, and its cache replaces the old one: search and status name the overlay once', async () => {
    const { root, olm, packages } = await system('tenstorrent.git', 'dev-python/tt-flash::tenstorrent')
    const caches = () => readdir(path.join(root, 'var/cache/overlayman/overlays'))
    const [before] = await caches()
    expect(before).toMatch(/^tenstorrent\.git\.[0-9a-f]{12}$/)
    // the same overlay, now defined at a mirror without md5-cache
    const conf = path.join(root, 'etc/overlayman/overlays.d/test.conf')
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('/tenstorrent.git', '/tenstorrent-nocache.git'))
    const r = ok(await olm('sync', '-v'))
    expect(r.stderr).toMatch(RESOLVED)
    expect(await packages()).toContain('dev-python/tt-flash')
    const after = await caches()
    expect(after).toHaveLength(1)
    expect(after[0]).toMatch(/^tenstorrent\.git\.[0-9a-f]{12}$/)
    expect(after[0]).not.toBe(before)
    const search = ok(await olm('search', 'tt-flash')).stdout.split('\n').filter((l) => l.startsWith('dev-python/tt-flash::'))
    expect(search).toHaveLength(1)
    expect(ok(await olm('status')).stdout.match(/^overlay tenstorrent /gm)).toHaveLength(1)
  })

  it('keeps the old cache while the new URL cannot be fetched', async () => {
    const { root, olm } = await system('tenstorrent.git', 'dev-python/tt-flash::tenstorrent')
    const conf = path.join(root, 'etc/overlayman/overlays.d/test.conf')
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('/tenstorrent.git', '/no-such-overlay.git'))
    const r = await olm('sync')
    expect(r.code).not.toBe(0)
    expect(await readdir(path.join(root, 'var/cache/overlayman/overlays'))).toEqual([expect.stringMatching(/^tenstorrent\.git\./)])
  })
})
