import { lstat, readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { type OlmRun, runOlm, snapshotTree } from '../helpers/olm.js'
import { FIXTURES, makeSystem, publishFixtureOverlays } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

// Expected results are those of fixtures/README.md ("Expected results" B, C, D, F, G).
const missing = gitHttpBackendMissing()
let server: GitServer
let gitRoot: string

beforeAll(async () => {
  if (missing) return
  gitRoot = await suiteDir('olm-guru-git-')
  await publishFixtureOverlays(gitRoot, ['tenstorrent', 'guru'])
  server = await startGitServer({ root: gitRoot })
})
afterAll(async () => {
  await server?.close()
  if (gitRoot) await removeDir(gitRoot)
})

async function system() {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git', guru: 'guru.git' } })
  const repo = path.join(root, 'var/db/repos/overlayman')
  return { root, repo, olm: (...args: string[]) => runOlm([...args, '--root', root]) }
}

const read = (repo: string, rel: string) => readFile(path.join(repo, rel), 'utf8')
const list = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).sort()
const provenance = async (repo: string) => JSON.parse(await read(repo, 'metadata/overlayman.json'))
const packagesOf = async (repo: string) => (await provenance(repo)).packages.map((p: { package: string }) => p.package).sort()

async function md5CacheEntries(repo: string): Promise<string[]> {
  const out: string[] = []
  for (const cat of await list(path.join(repo, 'metadata/md5-cache'))) for (const pf of await list(path.join(repo, 'metadata/md5-cache', cat))) out.push(`${cat}/${pf}`)
  return out
}

function ok(r: OlmRun): OlmRun {
  expect(r.code, r.stderr).toBe(0)
  return r
}

describe.skipIf(missing)('olm end to end, GURU-like overlay', () => {
  it('B: app-voices/voxctl::guru pulls the chain, eclasses, licenses, groups, mirrors and masks', async () => {
    const { olm, repo } = await system()
    const r = ok(await olm('add', 'app-voices/voxctl::guru'))
    expect(await packagesOf(repo)).toEqual(
      ['acct-user/voxd', 'app-voices/voxctl', 'app-voices/voxd', 'app-voices/voxd-tools', 'app-voices/voxtray', 'dev-libs/libbar', 'dev-libs/libfoo', 'dev-nim/nimbuild', 'dev-nim/voxlib', 'dev-python/mkdocs', 'dev-python/mkdocs-material'],
    )
    expect(await md5CacheEntries(repo)).toHaveLength(14)
    expect(await list(path.join(repo, 'eclass'))).toEqual(['app-voice.eclass', 'docs.eclass', 'nim-build.eclass', 'nim-utils.eclass', 'voice-utils.eclass'])
    for (const e of await list(path.join(repo, 'eclass'))) expect(await read(repo, `eclass/${e}`)).toBe(await readFile(path.join(FIXTURES, 'guru/eclass', e), 'utf8'))
    expect(await list(path.join(repo, 'licenses'))).toEqual(['Nimble-PL-1', 'Voicebank-Free-1.0'])
    const groups = await read(repo, 'profiles/license_groups')
    expect(groups).toMatch(/^FREE-SOFTWARE Nimble-PL-1$/m)
    expect(groups).toMatch(/^MISC-FREE Voicebank-Free-1.0$/m)
    expect(groups).toMatch(/^BINARY-REDISTRIBUTABLE Voicebank-Free-1.0$/m)
    expect(groups).not.toContain('Artistic-2')
    const mirrors = await read(repo, 'profiles/thirdpartymirrors')
    expect(mirrors).toMatch(/^npm\s/m)
    expect(mirrors).not.toMatch(/^(pypi|zef)\s/m)
    const masks = (await read(repo, 'profiles/package.mask')).split('\n').filter((l) => l && !l.startsWith('#'))
    expect(masks.sort()).toEqual(['<app-voices/voxd-2.1', '=app-voices/voxctl-9999', '=dev-nim/nimbuild-9999'])
    expect(await read(repo, 'profiles/categories')).toBe('acct-user\napp-voices\ndev-libs\ndev-nim\ndev-python\n')
    expect(await list(path.join(repo, 'app-voices'))).toContain('metadata.xml')
    expect(await list(path.join(repo, 'dev-nim'))).toContain('metadata.xml')
    expect(await list(path.join(repo, 'dev-libs'))).not.toContain('metadata.xml')
    expect((await lstat(path.join(repo, 'app-voices/voxd/files/voxd.initd'))).mode & 0o777).toBe(0o755)
    // the unsatisfiable dependency is a warning with its chain, not a failure
    expect(r.stderr).toMatch(/warning: nothing satisfies dev-libs\/libvoxnet: app-voices\/voxctl::guru .*app-voices\/voxtray/)
  })

  it('C: a narrowed request copies only the matching ebuild, dependencies whole', async () => {
    const { olm, repo } = await system()
    ok(await olm('add', '=dev-nim/nimbuild-1.1.5::guru'))
    expect(await packagesOf(repo)).toEqual(['dev-nim/nimbuild', 'dev-python/mkdocs', 'dev-python/mkdocs-material'])
    expect(await list(path.join(repo, 'dev-nim/nimbuild'))).not.toContain('nimbuild-9999.ebuild')
    expect(await md5CacheEntries(repo)).toEqual(['dev-nim/nimbuild-1.1.5', 'dev-python/mkdocs-1.6.1', 'dev-python/mkdocs-material-9.5.49'])
    expect(await list(path.join(repo, 'eclass'))).toEqual(['docs.eclass', 'nim-utils.eclass'])
    await expect(lstat(path.join(repo, 'profiles/package.mask'))).rejects.toThrow()
  })

  it('D: a guru-only license and mirror', async () => {
    const { olm, repo } = await system()
    ok(await olm('add', 'app-misc/raku-hello::guru'))
    expect(await list(path.join(repo, 'licenses'))).toEqual(['Artistic-2'])
    expect(await read(repo, 'profiles/license_groups')).toMatch(/^FREE-SOFTWARE Artistic-2$/m)
    expect(await read(repo, 'profiles/thirdpartymirrors')).toMatch(/^zef\s/m)
    expect(await list(path.join(repo, 'app-misc'))).toEqual(['raku-hello'])
  })

  it('F: two overlays in one repository', async () => {
    const { olm, repo } = await system()
    ok(await olm('add', 'sys-kernel/tt-kmd::tenstorrent', 'app-voices/voxctl::guru'))
    const prov = await provenance(repo)
    expect(prov.packages.filter((p: { overlay: string }) => p.overlay === 'tenstorrent').map((p: { package: string }) => p.package)).toEqual(['sys-kernel/tt-kmd'])
    expect(await read(repo, 'profiles/categories')).toBe('acct-user\napp-voices\ndev-libs\ndev-nim\ndev-python\nsys-kernel\n')
    expect(await read(repo, 'profiles/package.mask')).toContain('=sys-kernel/tt-kmd-9999\n# ^ carried from ::tenstorrent')
    const why = ok(await olm('why', 'nim-utils'))
    expect(why.stdout).toContain('eclass nim-utils::guru')
    expect(why.stdout).toContain('dev-nim/voxlib')
    // by package, each once, whatever number of its ebuilds inherit it (the chain names the ebuild)
    expect(why.stdout).toMatch(/^ {8}-> dev-nim\/voxlib-0\.4\.0 inherits nim-utils\n {2}also needed by: dev-nim\/nimbuild inherits it\n/m)
    const neededBy = (eclass: string) => prov.eclasses.find((e: { eclass: string }) => e.eclass === eclass).neededBy
    expect(neededBy('voice-utils')).toEqual(['app-voices/voxctl inherits it', 'app-voices/voxd inherits it'])
  })

  it.each([
    ['an eclass that would shadow another overlay package', ['dev-python/tt-topology::tenstorrent', 'dev-nim/nimbuild::guru'], /docs/],
    ['the same conflict through pulled packages', ['virtual/tenstorrent::tenstorrent', 'app-voices/voxctl::guru'], /docs/],
    ['a package missing from the overlay', ['app-voices/voxctl::tenstorrent'], /not in ::tenstorrent/],
    ['a package that exists nowhere', ['dev-libs/libvoxnet::guru'], /not in ::guru/],
  ])('G: %s exits 2 and writes nothing', async (_name, args, message) => {
    const { root, olm } = await system()
    const before = await snapshotTree(path.join(root, 'etc'))
    const r = await olm('add', ...args)
    expect(r.stderr).toMatch(message)
    expect(r.code).toBe(2)
    expect(await snapshotTree(path.join(root, 'etc'))).toEqual(before)
    await expect(lstat(path.join(root, 'var/db/repos/overlayman'))).rejects.toThrow()
  })
})
