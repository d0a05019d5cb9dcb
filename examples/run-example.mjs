#!/usr/bin/env node
// The README's first command: a real `olm add sys-kernel/tt-kmd::tenstorrent`
// from the bundled example overlay, served by git http-backend on 127.0.0.1,
// into a scratch root. No root privileges, no network beyond loopback.
import { spawn, spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeBareRepo } from '../dist-test/test/helpers/bare-repo.js'
import { startGitServer } from '../dist-test/test/helpers/git-server.js'

const project = fileURLToPath(new URL('..', import.meta.url))
const fixtures = path.join(project, 'fixtures/overlays')
const scratch = process.argv[2] ?? (await mkdtemp(path.join(tmpdir(), 'olm-example-')))
const root = path.join(scratch, 'root')
const gitRoot = path.join(scratch, 'git')

await makeBareRepo(path.join(fixtures, 'tenstorrent'), path.join(gitRoot, 'tenstorrent.git'))
const server = await startGitServer({ root: gitRoot })
try {
  // A stand-in ::gentoo, registered the way a Gentoo system has it.
  await cp(path.join(fixtures, 'gentoo'), path.join(root, 'var/db/repos/gentoo'), { recursive: true })
  await mkdir(path.join(root, 'etc/portage/repos.conf'), { recursive: true })
  await writeFile(path.join(root, 'etc/portage/repos.conf/gentoo.conf'), '[gentoo]\nlocation = /var/db/repos/gentoo\n')
  await mkdir(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
  await writeFile(path.join(root, 'etc/overlayman/overlays.d/tenstorrent.conf'), `[tenstorrent]\nsync-uri = ${server.url}/tenstorrent.git\n`)

  // The server lives in this process: olm must run asynchronously beside it.
  const olm = (...args) =>
    new Promise((resolve) => {
      console.log(`\n$ olm ${args.join(' ')}`)
      spawn(process.execPath, [path.join(project, 'bin/olm.js'), ...args, '--root', root], { stdio: 'inherit' }).on('close', resolve)
    })
  const status = await olm('add', 'sys-kernel/tt-kmd::tenstorrent')
  await olm('list')
  await olm('why', 'sys-kernel/tt-kmd')
  console.log(`\n$ cat ${root}/etc/portage/repos.conf/overlayman.conf`)
  console.log((await readFile(path.join(root, 'etc/portage/repos.conf/overlayman.conf'), 'utf8')).trimEnd())
  console.log(`\nThe generated repository: ${root}/var/db/repos/overlayman`)
  const tree = spawnSync('find', ['-L', '.', '-type', 'f'], { cwd: path.join(root, 'var/db/repos/overlayman'), encoding: 'utf8' })
  console.log(tree.stdout.split('\n').filter(Boolean).sort().map((l) => `  ${l.slice(2)}`).join('\n'))
  process.exitCode = status ?? 1
} finally {
  await server.close()
}
