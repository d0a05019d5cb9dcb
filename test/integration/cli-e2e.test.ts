import { lstat, readFile, readlink, stat, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { type OlmRun, runOlm, snapshotTree } from '../helpers/olm.js'
import { FIXTURES, makeSystem, publishFixtureOverlays } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

const missing = gitHttpBackendMissing()
let server: GitServer
let gitRoot: string
let commits: Record<string, string>

beforeAll(async () => {
  if (missing) return
  gitRoot = await suiteDir('olm-e2e-git-')
  commits = await publishFixtureOverlays(gitRoot, ['tenstorrent'])
  // A small overlay list, so "unknown overlay" is decided against a real repositories.xml.
  await mkdir(path.join(gitRoot, 'static'))
  await writeFile(
    path.join(gitRoot, 'static/repositories.xml'),
    '<?xml version="1.0"?>\n<repositories xmlns="" version="1.0">\n<repo quality="experimental" status="unofficial"><name>elsewhere</name><description>x</description><owner><email>a@b.invalid</email></owner><source type="git">https://example.invalid/elsewhere.git</source></repo>\n</repositories>\n',
  )
  server = await startGitServer({ root: gitRoot, staticDir: path.join(gitRoot, 'static') })
})
afterAll(async () => {
  await server?.close()
  if (gitRoot) await removeDir(gitRoot)
})

async function system(extra: Record<string, string> = {}, reposConfFile = false) {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git', ...extra }, reposConfFile })
  const olm = (...args: string[]) => runOlm([...args, '--root', root])
  const repo = path.join(root, 'var/db/repos/overlayman')
  return { root, olm, repo }
}

/** Everything under root except olm's cache: what "nothing changed" must leave alone, mtimes included. */
async function systemState(root: string) {
  const snap = await snapshotTree(root)
  const out: Record<string, unknown> = {}
  for (const [rel, e] of snap) {
    if (rel === 'var/cache' || rel.startsWith('var/cache/')) continue // olm's cache, and its parent's mtime
    const st = await lstat(path.join(root, rel))
    out[rel] = { ...e, mtime: st.mtimeMs }
  }
  return out
}

/** Asserts success, showing olm's stderr when it failed. */
function ok(r: OlmRun): OlmRun {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
  return r
}

const fixture = (rel: string) => readFile(path.join(FIXTURES, rel))

it('refuses a --root that does not exist instead of creating a system there', async () => {
  const dir = await testDir()
  const typo = path.join(dir, 'mnt-gentoo-typo')
  for (const args of [['sync'], ['add', 'app-misc/foo::guru'], ['list']]) {
    const r = await runOlm([...args, '--root', typo])
    expect([args[0], r.code, r.stderr]).toEqual([args[0], 2, `olm: --root ${typo}: no such directory\n`])
  }
  await expect(stat(typo)).rejects.toThrow()
})

describe.skipIf(missing)('olm end to end, tenstorrent-like overlay over loopback git', () => {
  it('add copies the package, its cache entries and its mask, and registers the repository', async () => {
    const { root, olm, repo } = await system()
    const r = await olm('add', 'sys-kernel/tt-kmd::tenstorrent')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('N sys-kernel/tt-kmd::tenstorrent 1.34 1.35 9999')

    // rule 1: the whole package directory, byte-identical, modes kept
    for (const f of ['tt-kmd-1.34.ebuild', 'tt-kmd-1.35.ebuild', 'tt-kmd-9999.ebuild', 'Manifest', 'metadata.xml', 'files/tt-kmd-1.34-linux-6.12.patch'])
      expect(await readFile(path.join(repo, 'sys-kernel/tt-kmd', f))).toEqual(await fixture(`tenstorrent/sys-kernel/tt-kmd/${f}`))
    // rule 6: md5-cache entries copied as they are
    for (const v of ['1.34', '1.35', '9999'])
      expect(await readFile(path.join(repo, `metadata/md5-cache/sys-kernel/tt-kmd-${v}`))).toEqual(await fixture(`tenstorrent/metadata/md5-cache/sys-kernel/tt-kmd-${v}`))
    // rule 5: the matching mask, with its source; the unrelated one stays behind
    const mask = await readFile(path.join(repo, 'profiles/package.mask'), 'utf8')
    expect(mask).toContain('=sys-kernel/tt-kmd-9999\n# ^ carried from ::tenstorrent')
    expect(mask).not.toContain('tt-exalens')
    // rule 8 and the repository skeleton
    expect(await readFile(path.join(repo, 'profiles/categories'), 'utf8')).toBe('sys-kernel\n')
    expect(await readFile(path.join(repo, 'profiles/repo_name'), 'utf8')).toBe('overlayman\n')
    const layout = await readFile(path.join(repo, 'metadata/layout.conf'), 'utf8')
    expect(layout).toMatch(/^masters = gentoo$/m)
    expect(layout).toMatch(/^thin-manifests = true$/m)
    expect(layout).toMatch(/^sign-manifests = false$/m)
    // eclasses and licenses come from ::gentoo here: nothing copied
    await expect(stat(path.join(repo, 'eclass'))).rejects.toThrow()
    await expect(stat(path.join(repo, 'licenses'))).rejects.toThrow()
    // registration, as seen inside the root, and the recorded request
    expect(await readFile(path.join(root, 'etc/portage/repos.conf/overlayman.conf'), 'utf8')).toContain('[overlayman]\nlocation = /var/db/repos/overlayman\n')
    expect(await readFile(path.join(root, 'etc/portage/repos.conf/gentoo.conf'), 'utf8')).toContain('[gentoo]')
    expect(await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8')).toMatch(/^sys-kernel\/tt-kmd::tenstorrent$/m)
    // modes: directories 0755, files 0644
    const snap = await snapshotTree(repo + '/')
    for (const [rel, e] of snap) expect([rel, e.mode]).toEqual([rel, e.type === 'dir' ? 0o755 : 0o644])
    // provenance
    const prov = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
    expect(prov.packages).toEqual([expect.objectContaining({ package: 'sys-kernel/tt-kmd', overlay: 'tenstorrent', commit: commits.tenstorrent, requested: true, versions: ['1.34', '1.35', '9999'] })])
  })

  it('a second sync with nothing changed rewrites nothing and says so', async () => {
    const { root, olm } = await system()
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    const before = await systemState(root)
    const r = await olm('sync')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/nothing changed/)
    expect(await systemState(root)).toEqual(before)
  })

  it('pulls the whole stack, its license and license group for virtual/tenstorrent, and remove prunes it', async () => {
    const { root, olm, repo } = await system()
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    const add = await olm('add', 'virtual/tenstorrent::tenstorrent')
    expect(add.code).toBe(0)
    const prov = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
    const names = prov.packages.map((p: { package: string }) => p.package).sort()
    expect(names).toEqual(
      [
        'app-containers/tt-metalium', 'dev-python/pyluwen', 'dev-python/requests', 'dev-python/tt-flash', 'dev-python/tt-inference-server',
        'dev-python/tt-smi', 'dev-python/tt-topology', 'dev-util/sfpi', 'sci-accel/tt-tools-common', 'sys-apps/tt-system-tools',
        'sys-kernel/tt-kmd', 'virtual/tenstorrent',
      ].sort(),
    )
    // rule 3: the overlay's own license; rule 7: its group membership
    expect(await readFile(path.join(repo, 'licenses/Tenstorrent-EULA'))).toEqual(await fixture('tenstorrent/licenses/Tenstorrent-EULA'))
    expect(await readFile(path.join(repo, 'profiles/license_groups'), 'utf8')).toMatch(/^EULA Tenstorrent-EULA$/m)
    // the executable init script keeps its mode; a symlink inside its package stays a symlink
    expect((await lstat(path.join(repo, 'sys-apps/tt-system-tools/files/tt-hugepages.openrc'))).mode & 0o777).toBe(0o755)
    expect(await readlink(path.join(repo, 'app-containers/tt-metalium/files/tt-metalium.conf'))).toBe('tt-metalium-default.conf')
    // an overlay-only category is listed, with its metadata.xml
    expect(await readFile(path.join(repo, 'profiles/categories'), 'utf8')).toContain('sci-accel\n')
    const why = await olm('why', 'dev-python/requests')
    expect(why.code).toBe(0)
    expect(why.stdout).toContain('virtual/tenstorrent::tenstorrent')
    expect(why.stdout).toContain('>=dev-python/requests-2.32')

    const rm = await olm('remove', 'virtual/tenstorrent')
    expect(rm.code).toBe(0)
    const after = JSON.parse(await readFile(path.join(repo, 'metadata/overlayman.json'), 'utf8'))
    expect(after.packages.map((p: { package: string }) => p.package)).toEqual(['sys-kernel/tt-kmd'])
    await expect(stat(path.join(repo, 'licenses/Tenstorrent-EULA'))).rejects.toThrow()
    expect(await readFile(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'utf8')).not.toContain('virtual/tenstorrent')
  })

  it('removing the last package leaves the repository registered, valid and empty', async () => {
    const { root, olm, repo } = await system()
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    ok(await olm('remove', 'sys-kernel/tt-kmd::tenstorrent'))
    expect(await readFile(path.join(repo, 'profiles/repo_name'), 'utf8')).toBe('overlayman\n')
    expect(await readFile(path.join(repo, 'profiles/categories'), 'utf8')).toBe('')
    await expect(stat(path.join(repo, 'sys-kernel'))).rejects.toThrow()
    expect(await readFile(path.join(root, 'etc/portage/repos.conf/overlayman.conf'), 'utf8')).toContain('[overlayman]')
  })

  it('--pretend prints the plan and changes nothing outside the cache', async () => {
    const { root, olm } = await system()
    const before = await systemState(root)
    const r = await olm('add', '--pretend', 'sys-kernel/tt-kmd::tenstorrent')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('sys-kernel/tt-kmd/tt-kmd-1.34.ebuild')
    expect(await systemState(root)).toEqual(before)
  })

  it('list --json shows overlays, commits and chains', async () => {
    const { olm } = await system()
    ok(await olm('add', 'dev-python/tt-flash::tenstorrent'))
    const r = await olm('list', '--json')
    expect(r.code).toBe(0)
    const list = JSON.parse(r.stdout)
    const requests = list.packages.find((p: { package: string }) => p.package === 'dev-python/requests')
    expect(requests).toMatchObject({ overlay: 'tenstorrent', commit: commits.tenstorrent, requested: false, versions: ['2.32.3'] })
    expect(requests.chain[0]).toMatch(/^dev-python\/tt-flash::tenstorrent \(\/etc\/overlayman\/packages.d\/olm.conf:\d+\)$/)
  })

  it('a narrowed request copies only the matching ebuilds', async () => {
    const { olm, repo } = await system()
    ok(await olm('add', '=sys-kernel/tt-kmd-1.35::tenstorrent'))
    const snap = await snapshotTree(repo + '/')
    expect([...snap.keys()].filter((k) => k.endsWith('.ebuild'))).toEqual(['sys-kernel/tt-kmd/tt-kmd-1.35.ebuild'])
    // the 9999 mask matches no copied ebuild now
    await expect(stat(path.join(repo, 'profiles/package.mask'))).rejects.toThrow()
  })

  describe('bad requests exit 2 and change nothing', () => {
    it.each([
      ['an unknown overlay', ['add', 'app-misc/foo::nosuchoverlay'], /unknown overlay "nosuchoverlay"/],
      ['a package the overlay lacks', ['add', 'app-misc/nothere::tenstorrent'], /app-misc\/nothere is not in ::tenstorrent/],
      ['a malformed argument', ['add', 'not-an-atom'], /names no overlay/],
      ['a version nothing matches', ['add', '<sys-kernel/tt-kmd-1::tenstorrent'], /no ebuild of sys-kernel\/tt-kmd/],
      ['one package from two overlays', ['add', 'sys-kernel/tt-kmd::tt2'], /requested from ::tt2 .* and from ::tenstorrent/],
      ['removing what is not requested', ['remove', 'app-misc/nothing'], /no request matches/],
    ])('%s', async (_name, args, message) => {
      const { root, olm } = await system({ tt2: 'tenstorrent.git' })
      ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
      const before = await systemState(root)
      const r = await olm(...args)
      expect(r.stderr).toMatch(message)
      expect(r.code).toBe(2)
      expect(await systemState(root)).toEqual(before)
    })

    it('a malformed packages.d line is reported with file and line', async () => {
      const { root, olm } = await system()
      await mkdir(path.join(root, 'etc/overlayman/packages.d'), { recursive: true })
      await writeFile(path.join(root, 'etc/overlayman/packages.d/mine.conf'), '# mine\nsys-kernel/tt-kmd::tenstorrent\n>=broken::tenstorrent\n')
      const before = await systemState(root)
      const r = await olm('sync')
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('/etc/overlayman/packages.d/mine.conf:3:')
      expect(await systemState(root)).toEqual(before)
    })
  })

  it('registers itself in a single-file repos.conf as its own section, touching nothing else', async () => {
    const { root, olm } = await system({}, true)
    const file = path.join(root, 'etc/portage/repos.conf')
    const before = await readFile(file, 'utf8')
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    const after = await readFile(file, 'utf8')
    expect(after.startsWith(before)).toBe(true)
    expect(after.slice(before.length)).toBe('\n[overlayman]\nlocation = /var/db/repos/overlayman\nauto-sync = no\n')
    ok(await olm('remove', 'sys-kernel/tt-kmd'))
    expect(await readFile(file, 'utf8')).toBe(after)
    const state = await systemState(root)
    expect(ok(await olm('sync')).stdout).toMatch(/nothing changed/)
    expect(await systemState(root)).toEqual(state)
  })

  it('the location is a symlink to a whole generation', async () => {
    const { olm, repo } = await system()
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent'))
    expect(await readlink(repo)).toMatch(/^\.overlayman\.olm\/g-[0-9a-f]{24}$/)
  })
})
