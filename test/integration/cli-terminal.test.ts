import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GitServer, gitHttpBackendMissing, startGitServer } from '../helpers/git-server.js'
import { OLM_BIN, runOlm } from '../helpers/olm.js'
import { makeSystem, publishFixtureOverlays } from '../helpers/system.js'
import { removeDir, suiteDir, testDir } from '../helpers/tmp.js'

// Terminal behaviour: progress and colour on a terminal only, never colour with NO_COLOR.
// util-linux `script` gives olm a real pseudo-terminal.
const missing = gitHttpBackendMissing() ?? (existsSync('/usr/bin/script') ? null : 'util-linux script(1) is missing')
let server: GitServer
let gitRoot: string

beforeAll(async () => {
  if (missing) return
  gitRoot = await suiteDir('olm-tty-git-')
  await publishFixtureOverlays(gitRoot, ['guru'])
  server = await startGitServer({ root: gitRoot })
})
afterAll(async () => {
  await server?.close()
  if (gitRoot) await removeDir(gitRoot)
})

/** Runs olm on a pseudo-terminal; returns everything the terminal showed. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const command = [process.execPath, OLM_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'xterm', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.on('error', reject)
    child.on('close', () => resolve(Buffer.concat(out).toString('utf8')))
  })
}

async function system() {
  const root = await testDir('olm-root-')
  await makeSystem(root, { serverUrl: server.url, overlays: { guru: 'guru.git' } })
  return root
}

describe.skipIf(missing)('olm on a terminal and off it', () => {
  it('shows fetch progress and coloured warnings on a terminal', async () => {
    const root = await system()
    const shown = await onTerminal(['add', 'app-voices/voxctl::guru', '--root', root], {})
    expect(shown).toMatch(/fetching overlays: \d\/1 done, [\d.]+ (B|KiB|MiB)/)
    expect(shown).toContain('\x1b[33mwarning\x1b[0m: nothing satisfies dev-libs/libvoxnet')
    expect(shown).toContain('N app-voices/voxctl::guru')
  })

  it('never colours with NO_COLOR', async () => {
    const root = await system()
    const shown = await onTerminal(['add', 'app-voices/voxctl::guru', '--root', root], { NO_COLOR: '1' })
    expect(shown).toContain('warning: nothing satisfies dev-libs/libvoxnet')
    expect(shown).not.toMatch(/\x1b\[3\dm/)
  })

  it('is silent but for warnings when not on a terminal, and quiet leaves errors only', async () => {
    const root = await system()
    const r = await runOlm(['add', 'app-voices/voxctl::guru', '--root', root])
    expect(r.code).toBe(0)
    expect(r.stderr).not.toContain('fetching overlays')
    expect(r.stderr + r.stdout).not.toMatch(/\x1b\[/)
    expect(r.stderr).toMatch(/^warning: nothing satisfies dev-libs\/libvoxnet/m)
    const quiet = await runOlm(['sync', '--quiet', '--root', root])
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' })
  })

  it.each(['add', 'remove', 'sync', 'list', 'why', 'overlays', 'search', 'status'])('olm %s --help shows examples', async (command) => {
    const r = await runOlm([command, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`Examples:\\n  olm ${command}`))
  })
})
