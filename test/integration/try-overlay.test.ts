import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { gitHttpBackendMissing } from '../helpers/git-server.js'
import { PROJECT_ROOT } from '../helpers/olm.js'
import { testDir } from '../helpers/tmp.js'

/**
 * bench/tools/try-overlay.mjs is how a release is tried on real overlays (README, Tests): driven
 * here on the fixtures so it does not rot between releases, both ways it can end.
 */
const run = promisify(execFile)
const TOOL = path.join(PROJECT_ROOT, 'bench/tools/try-overlay.mjs')
const FIXTURES = path.join(PROJECT_ROOT, 'fixtures/overlays')

async function tryOverlay(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, [TOOL, '--work', await testDir('olm-try-'), ...args], { encoding: 'utf8', timeout: 60_000 })
    return { code: 0, out: stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: string }
    return { code: e.code ?? -1, out: e.stdout ?? '' }
  }
}

describe.skipIf(gitHttpBackendMissing())('try-overlay', () => {
  it('adds packages of an overlay picked at random, bumps some upstream, syncs, and every check holds', async () => {
    const r = await tryOverlay('--overlay', path.join(FIXTURES, 'guru'), '--gentoo', path.join(FIXTURES, 'gentoo'), '--random', '5', '--bump', '2')
    expect(r.out).toMatch(/^checked \d+ ebuilds in .*: all held$/m)
    expect(r.out).toMatch(/olm sync {3}after a commit adding \S+\.ebuild \S+\.ebuild/)
    expect(r.out).toMatch(/^every check held$/m)
    expect(r.code).toBe(0)
  })

  it('fails when olm does: a ::gentoo that is no repository', async () => {
    const empty = await testDir('olm-empty-gentoo-')
    await mkdir(path.join(empty, 'eclass'))
    const r = await tryOverlay('--overlay', path.join(FIXTURES, 'tenstorrent'), '--gentoo', empty, 'sys-kernel/tt-kmd')
    expect(r.out).toMatch(/\(exit 2, \d+ ms\)/)
    expect(r.out).toMatch(/^1 problem\(s\)$/m)
    expect(r.code).toBe(1)
  })
})
