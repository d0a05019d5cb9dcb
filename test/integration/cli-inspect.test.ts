import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { runOlm } from '../helpers/olm.js'
import { makeSystem, publishFixtureOverlays } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

// Gentoo's real overlay list, as shipped in shared/ beside the project.
const REPOSITORIES_XML = fileURLToPath(new URL('../../../shared/data/repositories.xml', import.meta.url))
const missing = gitHttpBackendMissing()
let server: GitServer
let dir: string

beforeAll(async () => {
  if (missing) return
  dir = await suiteDir('olm-inspect-')
  await publishFixtureOverlays(path.join(dir, 'git'), ['tenstorrent'])
  await mkdir(path.join(dir, 'static'))
  await copyFile(REPOSITORIES_XML, path.join(dir, 'static/repositories.xml'))
  server = await startGitServer({ root: path.join(dir, 'git'), staticDir: path.join(dir, 'static') })
})
afterAll(async () => {
  await server?.close()
  if (dir) await removeDir(dir)
})

async function system() {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git' } })
  return (...args: string[]) => runOlm([...args, '--root', root])
}

describe.skipIf(missing)('olm overlays, search and status', () => {
  it('overlays lists the user definitions and repositories.xml, filtered', async () => {
    const olm = await system()
    const r = await olm('overlays', 'guru')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^guru\tGURU: Ebuild repository entirely maintained by Gentoo users$/m)
    expect(r.stdout).not.toMatch(/^steam-overlay/m)
    const mine = await olm('overlays', 'tenstorrent')
    expect(mine.stdout).toMatch(/^tenstorrent\thttp:\/\/127\.0\.0\.1:\d+\/tenstorrent\.git\t\(\/etc\/overlayman\/overlays\.d\/test\.conf:1\)$/m)
  })

  it('keeps the parsed overlay list beside the cached one, and parses again when the list changes', async () => {
    const root = await testDir('olm-root-')
    await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git' } })
    const olm = (...args: string[]) => runOlm([...args, '--root', root])
    expect((await olm('overlays', 'guru')).stdout).toMatch(/^guru\tGURU: Ebuild repository entirely maintained by Gentoo users$/m)
    const cached = path.join(root, 'var/cache/overlayman/repositories.xml')
    const copy = JSON.parse(await readFile(`${cached}.parsed.json`, 'utf8')) as { repos: { name: string; description: string }[] }
    // the copy is what answers while the list is the one it was made from...
    copy.repos.find((r) => r.name === 'guru')!.description = 'from the parsed copy'
    await writeFile(`${cached}.parsed.json`, JSON.stringify(copy))
    expect((await olm('overlays', 'guru')).stdout).toMatch(/^guru\tfrom the parsed copy$/m)
    // a copy of the wrong shape is no copy: the list is parsed
    await writeFile(`${cached}.parsed.json`, JSON.stringify({ ...copy, repos: [42] }))
    const damaged = await olm('overlays', 'guru')
    expect([damaged.code, damaged.stdout]).toEqual([0, expect.stringMatching(/^guru\tGURU: Ebuild repository entirely maintained by Gentoo users$/m)])
    // ...and a changed list (what a refresh brings) is parsed again
    await writeFile(cached, (await readFile(cached, 'utf8')).replace('GURU: Ebuild repository entirely maintained by Gentoo users', 'GURU, edited upstream'))
    expect((await olm('overlays', 'guru')).stdout).toMatch(/^guru\tGURU, edited upstream$/m)
  })

  it('search answers from the cached overlays and the cached overlay list, without fetching', async () => {
    const olm = await system()
    expect((await olm('add', 'sys-kernel/tt-kmd::tenstorrent')).code).toBe(0)
    await olm('overlays') // caches repositories.xml
    const before = server.requests().length
    const r = await olm('search', 'hugepages')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^sys-apps\/tt-system-tools::tenstorrent\t.*[Hh]uge[Pp]ages/m)
    const overlays = await olm('search', 'gentoo user')
    expect(overlays.stdout).toMatch(/^overlay guru\t/m)
    expect(server.requests().length).toBe(before)
  })

  it('why names ten of what else needs an item and counts the rest', async () => {
    const root = await testDir('olm-root-')
    await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git' } })
    // what a large closure leaves: a base eclass inherited by many packages
    const repo = path.join(root, 'var/db/repos/overlayman')
    await mkdir(path.join(repo, 'metadata'), { recursive: true })
    const neededBy = Array.from({ length: 25 }, (_, i) => `app-misc/p${i} inherits it`)
    const chain = ['app-misc/p0::x (/etc/overlayman/packages.d/olm.conf:1)', 'app-misc/p0-1 inherits base']
    const eclasses = [{ eclass: 'base', overlay: 'x', commit: 'c'.repeat(40), neededBy, chain }]
    await writeFile(path.join(repo, 'metadata/overlayman.json'), JSON.stringify({ format: 2, repoName: 'overlayman', packages: [], eclasses, licenses: [], unsatisfied: [] }))
    const r = await runOlm(['why', 'base', '--root', root])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^ {2}also needed by: app-misc\/p1 inherits it; (app-misc\/p\d+ inherits it; ){8}app-misc\/p10 inherits it; and 14 more \(olm list --json has them all\)$/m)
    expect(r.stdout).not.toContain('p11 ')
  })

  it('status tells where the repository is, whether portage sees it, and how the last sync went', async () => {
    const olm = await system()
    const fresh = await olm('status')
    expect(fresh.stdout).toContain('not generated yet')
    expect(fresh.stdout).toContain('registered in repos.conf: no')
    expect(fresh.stdout).toContain('last sync: never')
    expect((await olm('add', 'sys-kernel/tt-kmd::tenstorrent')).code).toBe(0)
    const r = await olm('status')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('repository: overlayman at /var/db/repos/overlayman, 1 packages')
    expect(r.stdout).toContain('registered in repos.conf: yes')
    expect(r.stdout).toMatch(/^overlay tenstorrent \(git\): at [0-9a-f]{12}, changed 0 h ago$/m)
    expect(r.stdout).toMatch(/^last sync: .*olm add, exit 0/m)
  })
})
