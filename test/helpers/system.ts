import { cp, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { makeBareRepo } from './bare-repo.js'
import { PROJECT_ROOT } from './olm.js'

export const FIXTURES = path.join(PROJECT_ROOT, 'fixtures/overlays')

/**
 * Serves fixture overlays as bare repos: copies each fixture into
 * `<gitRoot>/<name>.git` (a real commit) and returns the commit ids.
 */
export async function publishFixtureOverlays(gitRoot: string, names: string[]): Promise<Record<string, string>> {
  const commits: Record<string, string> = {}
  for (const name of names) commits[name] = await makeBareRepo(path.join(FIXTURES, name), path.join(gitRoot, `${name}.git`))
  return commits
}

export interface SystemOptions {
  /** base URL of the loopback git server */
  serverUrl: string
  /** overlay name → repo path under the server ("tenstorrent.git") */
  overlays: Record<string, string>
  /** repos.conf as a single file instead of a directory */
  reposConfFile?: boolean
  /** extra overlayman.conf lines */
  settings?: string[]
}

/**
 * A scratch Gentoo root: ::gentoo (the stand-in fixture) at
 * /var/db/repos/gentoo registered in repos.conf, the given overlays in
 * overlays.d, and repositories-xml pointing at the loopback server.
 */
export async function makeSystem(root: string, opts: SystemOptions): Promise<void> {
  await cp(path.join(FIXTURES, 'gentoo'), path.join(root, 'var/db/repos/gentoo'), { recursive: true })
  await mkdir(path.join(root, 'var/cache'), { recursive: true }) // as on any system
  const reposConf = '[DEFAULT]\nmain-repo = gentoo\n\n[gentoo]\nlocation = /var/db/repos/gentoo\nsync-type = rsync\nsync-uri = rsync://rsync.gentoo.org/gentoo-portage\n'
  if (opts.reposConfFile) {
    await mkdir(path.join(root, 'etc/portage'), { recursive: true })
    await writeFile(path.join(root, 'etc/portage/repos.conf'), reposConf)
  } else {
    await mkdir(path.join(root, 'etc/portage/repos.conf'), { recursive: true })
    await writeFile(path.join(root, 'etc/portage/repos.conf/gentoo.conf'), reposConf)
  }
  await mkdir(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
  const defs = Object.entries(opts.overlays).map(([name, repo]) => `[${name}]\nsync-uri = ${opts.serverUrl}/${repo}\n`)
  await writeFile(path.join(root, 'etc/overlayman/overlays.d/test.conf'), defs.join('\n'))
  const settings = [`repositories-xml = ${opts.serverUrl}/repositories.xml`, ...(opts.settings ?? [])]
  await writeFile(path.join(root, 'etc/overlayman/overlayman.conf'), settings.join('\n') + '\n')
}
