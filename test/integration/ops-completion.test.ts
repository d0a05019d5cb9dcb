// The bash completion asked for candidates in a real bash, as bash itself
// would call it (COMP_WORDS split at ":" and "=" like COMP_WORDBREAKS does),
// with the built olm on PATH; the zsh one parsed and loaded where zsh exists.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { OLM_BIN, PROJECT_ROOT, runOlm } from '../helpers/olm.js'
import { makeSystem, publishFixtureOverlays } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

const BASH_COMPLETION = path.join(PROJECT_ROOT, 'completions/olm.bash')
const ZSH_COMPLETION = path.join(PROJECT_ROOT, 'completions/_olm')
const zshMissing = spawnSync('zsh', ['-fc', 'true']).status === 0 ? null : 'zsh not installed'
if (zshMissing) console.warn(`ops-completion: skipping the zsh checks (${zshMissing})`)

let binDir: string
beforeAll(async () => {
  binDir = await suiteDir('olm-compl-bin-')
  symlinkSync(OLM_BIN, path.join(binDir, 'olm'))
})
afterAll(() => removeDir(binDir))

/** Candidates bash would offer for the last word, with `bin` first on PATH. */
function complete(words: string[], bin = binDir): string[] {
  const script = `source '${BASH_COMPLETION}'; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _olm; printf '%s\\n' "\${COMPREPLY[@]}"`
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', ...words], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME } })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return r.stdout.split('\n').filter((l) => l !== '')
}

/** Commands (with aliases) and long options as the built olm's help lists them in its Commands: and Options: blocks. */
async function help(args: string[]): Promise<{ commands: string[]; longOptions: string[] }> {
  const r = await runOlm([...args, '--help'])
  const block = (name: string) => (r.stdout.split(/\n(?=\S)/).find((b) => b.startsWith(`${name}:\n`)) ?? '').split('\n').slice(1)
  const commands = block('Commands').flatMap((l) => /^ {2}([a-z][\w|-]*)/.exec(l)?.[1]?.split('|') ?? [])
  const longOptions = block('Options').flatMap((l) => /^ {2}(?:-\w, )?(--[\w-]+)/.exec(l)?.[1] ?? [])
  return { commands, longOptions }
}

describe('bash completion', () => {
  it('is valid bash', () => {
    expect(spawnSync('bash', ['-n', BASH_COMPLETION], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
  })

  it('olm <TAB> offers every command of olm --help, aliases included', async () => {
    const { commands } = await help([])
    expect(commands).toContain('info')
    expect(complete(['olm', '']).sort()).toEqual(commands.sort())
  })

  it.each(['sync', 'add', 'remove', 'list', 'why', 'overlays', 'search', 'status'])('olm %s --<TAB> offers exactly its long options', async (cmd) => {
    const { longOptions } = await help([cmd])
    expect(complete(['olm', cmd, '--']).sort()).toEqual(longOptions.sort())
  })

  it.each([
    [['olm', 'add', '--'], '--no-sync'],
    [['olm', '-q', '--jobs', '4', 'list', '--j'], '--json'],
  ])('%j offers %s', (words, option) => {
    expect(complete(words)).toContain(option)
  })

  it.each([
    [['olm', 'sy'], ['sync']],
    [['olm', '--root', '/tmp', 's'], ['search', 'status', 'sync']],
    [['olm', 'help', 'st'], ['status']],
    [['olm', '--jobs', ''], ['1', '2', '4', '8', '16']],
    [['olm', 'sync', '-'], ['--root', '--pretend', '-p', '--quiet', '-q', '--verbose', '-v', '--jobs', '--help', '-h']],
    [['olm', '--v'], ['--verbose', '--version']],
  ])('%j offers %j', (words, want) => {
    expect(complete(words).sort()).toEqual([...want].sort())
  })

  it('completes --root with directories, also written --root=DIR', async () => {
    const dir = await testDir()
    mkdirSync(path.join(dir, 'gentoo-root'))
    writeFileSync(path.join(dir, 'gentoo-file'), '')
    expect(complete(['olm', '--root', path.join(dir, 'gen')])).toEqual([path.join(dir, 'gentoo-root')])
    // bash splits "--root=/x/gen" into "--root" "=" "/x/gen"; the answer replaces the last piece only.
    expect(complete(['olm', '--root', '=', path.join(dir, 'gen')])).toEqual([path.join(dir, 'gentoo-root')])
  })

  it('olm remove <TAB> offers the request lines of packages.d and packages', async () => {
    const root = await testDir()
    mkdirSync(path.join(root, 'etc/overlayman/packages.d'), { recursive: true })
    writeFileSync(path.join(root, 'etc/overlayman/packages.d/a.conf'), '# mine\nsys-kernel/tt-kmd::tenstorrent  # the driver\n\n')
    writeFileSync(path.join(root, 'etc/overlayman/packages.d/b.txt'), 'not/read::x\n')
    writeFileSync(path.join(root, 'etc/overlayman/packages'), 'dev-python/foo::guru\n')
    expect(complete(['olm', '--root', root, 'remove', '']).sort()).toEqual(['dev-python/foo::guru', 'sys-kernel/tt-kmd::tenstorrent'])
    expect(complete(['olm', 'remove', '--root', root, 'dev'])).toEqual(['dev-python/foo::guru'])
  })

  it('olm add PKG::<TAB> offers the overlays olm knows, after the "::" bash split off', async () => {
    const root = await testDir()
    mkdirSync(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
    writeFileSync(path.join(root, 'etc/overlayman/overlays.d/mine.conf'), '[tenstorrent]\nsync-uri = https://example.org/t.git\n\n[tinker]\nsync-uri = https://example.org/k.git\n')
    writeFileSync(path.join(root, 'etc/overlayman/overlayman.conf'), 'repositories-xml = http://127.0.0.1:9/none.xml\n')
    expect(complete(['olm', '--root', root, 'add', 'sys-kernel/tt-kmd', '::', 't']).sort()).toEqual(['tenstorrent', 'tinker'])
    expect(complete(['olm', '--root', root, 'add', 'sys-kernel/tt-kmd', '::', 'te'])).toEqual(['tenstorrent'])
    expect(complete(['olm', '--root', root, 'overlays', ''])).toEqual(['tenstorrent', 'tinker'])
  })

  describe('with an olm that answers __complete', () => {
    async function fakeOlm(status: number) {
      const bin = await testDir()
      const log = path.join(bin, 'calls.log')
      writeFileSync(
        path.join(bin, 'olm'),
        `#!/bin/sh\necho "$*" >> '${log}'\ncase "$1" in __complete) [ ${status} = 0 ] && printf 'alpha\\nbeta\\n'; exit ${status};; overlays) printf 'gamma\\tfrom overlays\\n';; esac\n`,
      )
      chmodSync(path.join(bin, 'olm'), 0o755)
      return { bin, calls: () => readFileSync(log, 'utf8').trim().split('\n') }
    }

    it('uses its answer and nothing else', async () => {
      const fake = await fakeOlm(0)
      expect(complete(['olm', '--root', '/r', 'overlays', ''], fake.bin)).toEqual(['alpha', 'beta'])
      expect(fake.calls()).toEqual(['__complete overlays --root /r'])
    })

    it('falls back to olm overlays --pretend when __complete is unknown', async () => {
      const fake = await fakeOlm(2)
      expect(complete(['olm', 'overlays', ''], fake.bin)).toEqual(['gamma'])
      expect(fake.calls()).toEqual(['__complete overlays', 'overlays --pretend'])
    })
  })
})

const missing = gitHttpBackendMissing()
describe.skipIf(missing)('bash completion over a synced system', () => {
  let server: GitServer
  let gitRoot: string
  let root: string
  beforeAll(async () => {
    gitRoot = await suiteDir('olm-compl-git-')
    await publishFixtureOverlays(gitRoot, ['tenstorrent'])
    server = await startGitServer({ root: gitRoot })
    root = await suiteDir('olm-compl-root-')
    await makeSystem(root, { serverUrl: server.url, overlays: { tenstorrent: 'tenstorrent.git' } })
    const r = await runOlm(['add', 'virtual/tenstorrent::tenstorrent', '--root', root])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })
  afterAll(async () => {
    await server?.close()
    if (gitRoot) await removeDir(gitRoot)
    if (root) await removeDir(root)
  })

  it('olm add <TAB> offers category/package::overlay of the cached overlays', async () => {
    const offered = complete(['olm', '--root', root, 'add', 'sys-'])
    expect(offered).toContain('sys-kernel/tt-kmd::tenstorrent')
    expect(offered.every((c) => c.startsWith('sys-') && c.endsWith('::tenstorrent'))).toBe(true)
  })

  it('olm why <TAB> offers the packages, eclasses and licenses the repository holds', async () => {
    const list = JSON.parse((await runOlm(['list', '--json', '--root', root])).stdout) as { packages: { package: string }[]; eclasses: { eclass: string }[]; licenses: { license: string }[] }
    const want = [...list.packages.map((p) => p.package), ...list.eclasses.map((e) => e.eclass), ...list.licenses.map((l) => l.license)]
    expect(want).toEqual(expect.arrayContaining(['virtual/tenstorrent', 'sys-kernel/tt-kmd', 'Tenstorrent-EULA']))
    expect(complete(['olm', 'why', '--root', root, '']).sort()).toEqual([...new Set(want)].sort())
  })
})

describe.skipIf(zshMissing)('zsh completion', () => {
  const zsh = (script: string, env: NodeJS.ProcessEnv = {}) =>
    spawnSync('zsh', ['-fc', script], { encoding: 'utf8', env: { PATH: `${binDir}:${process.env.PATH}`, HOME: process.env.HOME, ...env } })

  it('is valid zsh', () => {
    expect(spawnSync('zsh', ['-n', ZSH_COMPLETION], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
  })

  it('registers itself for olm when sourced after compinit', () => {
    const r = zsh(`autoload -Uz compinit && compinit -u -D; source '${ZSH_COMPLETION}'; print -r -- $_comps[olm]`)
    expect(r).toMatchObject({ status: 0, stderr: '', stdout: '_olm\n' })
  })

  it('describes every command of olm --help', async () => {
    const { commands } = await help([])
    const described = [...readFileSync(ZSH_COMPLETION, 'utf8').matchAll(/^ {8}'([a-z]+):/gm)].map((m) => m[1])
    expect(described.sort()).toEqual(commands.filter((c) => c !== 'help').concat('help').sort())
  })

  it('reads overlays from olm and requests from packages.d under --root', async () => {
    const root = await testDir()
    mkdirSync(path.join(root, 'etc/overlayman/overlays.d'), { recursive: true })
    mkdirSync(path.join(root, 'etc/overlayman/packages.d'), { recursive: true })
    writeFileSync(path.join(root, 'etc/overlayman/overlays.d/a.conf'), '[tenstorrent]\nsync-uri = https://example.org/t.git\n')
    writeFileSync(path.join(root, 'etc/overlayman/overlayman.conf'), 'repositories-xml = http://127.0.0.1:9/none.xml\n')
    writeFileSync(path.join(root, 'etc/overlayman/packages.d/olm.conf'), 'sys-kernel/tt-kmd::tenstorrent # x\n')
    const r = zsh(`autoload -Uz compinit && compinit -u -D; source '${ZSH_COMPLETION}'; _olm_root='${root}'; _olm_query overlays; _olm_query requests`)
    expect(r).toMatchObject({ status: 0, stderr: '', stdout: 'tenstorrent\nsys-kernel/tt-kmd::tenstorrent\n' })
  })
})
