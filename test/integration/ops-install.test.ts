// `npm pack` then `npm install -g` into a fresh prefix, as a user would, and
// the installed olm run. Dependencies come from the npm cache that `npm ci`
// filled (--prefer-offline), so this needs no network when the cache is warm.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROJECT_ROOT } from '../helpers/olm.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { name: string; version: string }

/** The environment without what `npm test` exports to scripts (npm_config_prefix, npm_lifecycle_*...), which would steer the inner npm. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'])
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())))
}

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: cleanEnv(), timeout: 120_000 })
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}):\n${r.stderr}`)
  return r
}

let dir: string
let prefix: string
let installed: string
let seconds: number

beforeAll(async () => {
  dir = await suiteDir('olm-install-')
  const started = Date.now()
  const packed = npm(['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], PROJECT_ROOT).stdout.trim().split('\n').at(-1)!
  prefix = path.join(dir, 'prefix')
  npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, packed)], dir)
  seconds = (Date.now() - started) / 1000
  installed = path.join(prefix, 'lib/node_modules', pkg.name)
}, 180_000)
afterAll(() => (dir ? removeDir(dir) : undefined))

const olm = (...args: string[]) => spawnSync(path.join(prefix, 'bin/olm'), args, { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1' } })

describe('npm pack, npm install -g into a fresh prefix', () => {
  it('takes well under a minute', () => {
    expect(seconds).toBeLessThan(60)
  })

  it('installs a working olm on the prefix PATH', () => {
    const v = olm('--version')
    expect(v).toMatchObject({ status: 0, stderr: '', stdout: `${pkg.version}\n` })
    const h = olm('--help')
    expect(h.status).toBe(0)
    expect(h.stdout).toMatch(/^Usage: olm /)
    expect(h.stdout).toContain('sync')
    const bad = olm('no-such-command')
    expect(bad.status).toBe(2)
  })

  it('runs from the installed copy, with its dependencies installed beside it', () => {
    expect(statSync(path.join(prefix, 'bin/olm')).isFile()).toBe(true)
    for (const dep of ['commander', 'ini', 'tar', 'p-limit']) expect(existsSync(path.join(installed, 'node_modules', dep)), dep).toBe(true)
    expect(readdirSync(installed)).not.toContain('src')
    expect(readdirSync(installed)).not.toContain('test')
  })

  it('ships the man pages, the example configs, the units, the hook (executable) and the completions', () => {
    for (const f of ['man/olm.1', 'man/overlayman.conf.5', 'etc/overlayman.conf', 'etc/cron.d/overlayman', 'etc/systemd/olm-sync.timer', 'etc/systemd/olm-sync.service', 'etc/portage/repo.postsync.d/50-overlayman', 'completions/olm.bash', 'completions/_olm'])
      expect(existsSync(path.join(installed, f)), f).toBe(true)
    expect(statSync(path.join(installed, 'etc/portage/repo.postsync.d/50-overlayman')).mode & 0o111).toBe(0o111)
  })

  it('links the man pages where man finds them (package.json "man")', () => {
    expect(existsSync(path.join(prefix, 'share/man/man1/olm.1'))).toBe(true)
    expect(existsSync(path.join(prefix, 'share/man/man5/overlayman.conf.5'))).toBe(true)
  })
})
