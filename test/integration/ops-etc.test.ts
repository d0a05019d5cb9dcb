// The shipped cron entry, systemd units and portage hook, run for real: the
// hook and the cron command under /bin/sh with a fake olm (and a fake sleep)
// on PATH that records how it was called; the units through systemd-analyze
// where this machine has it.
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadSettings } from '../../src/config/load.js'
import { systemPaths } from '../../src/config/paths.js'
import { defaultSettings } from '../../src/config/settings.js'
import { parseEbuildFileName } from '../../src/pms/names.js'
import { childElements, parseXml } from '../../src/pms/xml.js'
import { PROJECT_ROOT } from '../helpers/olm.js'
import { testDir } from '../helpers/tmp.js'

const ETC = path.join(PROJECT_ROOT, 'etc')
const HOOK = path.join(ETC, 'portage/repo.postsync.d/50-overlayman')
const analyzeMissing = spawnSync('systemd-analyze', ['--version']).status === 0 ? null : 'systemd-analyze not installed'
if (analyzeMissing) console.warn(`ops-etc: skipping systemd-analyze verify (${analyzeMissing}); the unit parser test in test/unit/ops-etc.test.ts still runs`)

/** A bin directory with fake commands that append "name args..." to calls.log and exit with the given status. */
async function fakeBin(commands: Record<string, number>): Promise<{ bin: string; calls: () => string[] }> {
  const dir = await testDir('olm-ops-')
  const bin = path.join(dir, 'bin')
  const log = path.join(dir, 'calls.log')
  mkdirSync(bin)
  for (const [name, status] of Object.entries(commands)) {
    writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\nexit ${status}\n`)
    chmodSync(path.join(bin, name), 0o755)
  }
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) }
}

/** PATH with the fake bin first, then the system's basic tools (sed, tail, od) but no real olm. */
const pathWith = (bin: string) => `${bin}:/usr/bin:/bin`

function runHook(args: string[], bin: string, env: Record<string, string> = {}) {
  // Run by /bin/sh explicitly as well as by the shebang would be the same here: /bin/sh is what portage gets.
  return spawnSync('/bin/sh', [HOOK, ...args], { encoding: 'utf8', env: { PATH: pathWith(bin), OVERLAYMAN_CONF: '/nonexistent', ...env } })
}

describe('portage repo.postsync.d hook', () => {
  it('parses under sh -n and under dash -n when present', () => {
    expect(spawnSync('sh', ['-n', HOOK], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
    if (spawnSync('dash', ['-c', 'true']).status === 0) expect(spawnSync('dash', ['-n', HOOK], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
  })

  it('runs olm sync --quiet after ::gentoo is synced', async () => {
    const fake = await fakeBin({ olm: 0 })
    const r = runHook(['gentoo', 'rsync://rsync.gentoo.org/gentoo-portage', '/var/db/repos/gentoo'], fake.bin)
    expect(r).toMatchObject({ status: 0, stderr: '' })
    expect(fake.calls()).toEqual(['olm sync --quiet'])
  })

  it.each([
    ['overlayman', 'its own repository'],
    ['guru', 'any other repository'],
    ['', 'no repository name'],
  ])('does nothing for %j (%s)', async (name) => {
    const fake = await fakeBin({ olm: 0 })
    const r = runHook([name, 'https://example.org/x.git', '/var/db/repos/x'], fake.bin)
    expect(r).toMatchObject({ status: 0, stderr: '' })
    expect(fake.calls()).toEqual([])
  })

  it('takes its own repository name from overlayman.conf', async () => {
    const fake = await fakeBin({ olm: 0 })
    const conf = path.join(await testDir(), 'overlayman.conf')
    writeFileSync(conf, '# renamed\n#repo-name = nope\n[overlayman]\n  repo-name = gentoo   \n')
    const r = runHook(['gentoo', 'x', '/var/db/repos/gentoo'], fake.bin, { OVERLAYMAN_CONF: conf })
    expect(r.status).toBe(0)
    expect(fake.calls()).toEqual([])
  })

  it.each([1, 2, 3])('reports an olm failure (exit %i) and still exits 0', async (status) => {
    const fake = await fakeBin({ olm: status })
    const r = runHook(['gentoo', 'x', '/var/db/repos/gentoo'], fake.bin)
    expect(r.status).toBe(0)
    expect(r.stderr).toContain(`exit status ${status}`)
    expect(fake.calls()).toEqual(['olm sync --quiet'])
  })

  it('says so and exits 0 when olm is not installed', async () => {
    const fake = await fakeBin({})
    const r = runHook(['gentoo', 'x', '/var/db/repos/gentoo'], fake.bin)
    expect(r.status).toBe(0)
    expect(r.stderr).toContain('olm is not installed')
  })
})

describe('cron.d entry', () => {
  const entry = readFileSync(path.join(ETC, 'cron.d/overlayman'), 'utf8')
    .split('\n')
    .find((l) => /^\d/.test(l))!
  // cron hands the part after the user field to SHELL -c, with \% turned into %.
  const command = entry.replace(/^(\S+\s+){6}/, '').replace(/\\%/g, '%')

  it('parses under sh -n', () => {
    expect(spawnSync('sh', ['-n', '-c', command], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
  })

  it('sleeps a random 0..3600 s under /bin/sh, then runs olm sync --quiet', async () => {
    const delays = new Set<number>()
    for (let i = 0; i < 5; i++) {
      const fake = await fakeBin({ olm: 0, sleep: 0 })
      const r = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8', env: { PATH: pathWith(fake.bin) } })
      expect(r).toMatchObject({ status: 0, stderr: '' })
      const [sleep, olm] = fake.calls()
      expect(sleep).toMatch(/^sleep \d+$/)
      delays.add(Number(sleep!.split(' ')[1]))
      expect(olm).toBe('olm sync --quiet')
    }
    for (const d of delays) expect(d).toBeLessThanOrEqual(3600)
    expect(delays.size).toBeGreaterThan(1) // 5 draws from ~3450 values
  })

  it('does not run olm when the delay is interrupted', async () => {
    const fake = await fakeBin({ olm: 0, sleep: 1 })
    const r = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8', env: { PATH: pathWith(fake.bin) } })
    expect(r.status).toBe(1)
    expect(fake.calls()).toHaveLength(1)
  })
})

describe('etc/overlayman.conf read by olm', () => {
  it('as shipped and with every line switched on, gives the defaults', async () => {
    const root = await testDir()
    const paths = systemPaths(root)
    mkdirSync(path.dirname(paths.configFile), { recursive: true })
    copyFileSync(path.join(ETC, 'overlayman.conf'), paths.configFile)
    expect((await loadSettings(paths)).settings).toEqual(defaultSettings())
    writeFileSync(paths.configFile, readFileSync(paths.configFile, 'utf8').replace(/^#(?=[a-z])/gm, ''))
    const loaded = await loadSettings(paths)
    expect(loaded.settings).toEqual(defaultSettings())
    expect(Object.keys(loaded.origin).sort()).toEqual(Object.keys(defaultSettings()).sort())
  })
})

describe.skipIf(analyzeMissing)('systemd-analyze verify', () => {
  it('accepts the service and the timer without a single message', async () => {
    const dir = await testDir()
    const fake = await fakeBin({ olm: 0 })
    // verify checks that ExecStart exists; the real path (/usr/bin/olm) is checked by the unit parser test.
    const service = readFileSync(path.join(ETC, 'systemd/olm-sync.service'), 'utf8')
    expect(service).toContain('ExecStart=/usr/bin/olm ')
    writeFileSync(path.join(dir, 'olm-sync.service'), service.replace('ExecStart=/usr/bin/olm ', `ExecStart=${fake.bin}/olm `))
    copyFileSync(path.join(ETC, 'systemd/olm-sync.timer'), path.join(dir, 'olm-sync.timer'))
    // --man=no: the pages are not installed here; that they exist in man/ is checked below.
    for (const [, name, section] of service.matchAll(/man:([\w.-]+)\((\d)\)/g)) expect(existsSync(path.join(PROJECT_ROOT, 'man', `${name}.${section}`))).toBe(true)
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...['olm-sync.timer', 'olm-sync.service'].map((f) => path.join(dir, f))], { encoding: 'utf8', cwd: dir })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it('does complain about a misspelt key (the check can fail)', async () => {
    const dir = await testDir()
    writeFileSync(path.join(dir, 'x.service'), '[Service]\nType=oneshot\nExecStart=/bin/true\nProtectSystm=strict\n')
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'x.service')], { encoding: 'utf8' })
    expect(r.stdout + r.stderr).toContain('ProtectSystm')
  })
})

describe('packaging/app-portage/overlayman', () => {
  const dir = path.join(PROJECT_ROOT, 'packaging/app-portage/overlayman')
  const version = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const ebuildName = `overlayman-${version}.ebuild`
  const ebuild = () => readFileSync(path.join(dir, ebuildName), 'utf8')

  it('has an ebuild for the version package.json says, named as PMS wants', () => {
    expect(parseEbuildFileName('overlayman', ebuildName)?.pvr).toBe(version)
  })

  it('is valid bash, EAPI 8, with the eclasses it calls', () => {
    expect(spawnSync('bash', ['-n', path.join(dir, ebuildName)], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' })
    const text = ebuild()
    expect(text).toMatch(/^EAPI=8$/m)
    expect(text).toMatch(/^inherit .*\bbash-completion-r1\b.*\bsystemd\b/m)
    expect(text).toMatch(/^RDEPEND=".*net-libs\/nodejs/m)
    expect(text).toContain('dosym -r "${dest}"/bin/olm.js /usr/bin/olm')
  })

  it('installs only files that exist in the package', () => {
    const named = [...ebuild().matchAll(/(?<![/\w}.-])((?:man|completions|etc)\/[\w./-]+)/g)].map((m) => m[1]!)
    expect(named.length).toBeGreaterThan(8)
    for (const f of named) expect(existsSync(path.join(PROJECT_ROOT, f)), f).toBe(true)
  })

  it('has a metadata.xml the PMS XML reader accepts', () => {
    const root = parseXml(readFileSync(path.join(dir, 'metadata.xml'), 'utf8'), 'metadata.xml')
    expect(root.name).toBe('pkgmetadata')
    expect(childElements(root, 'maintainer')).toHaveLength(1)
    expect(childElements(root, 'upstream')).toHaveLength(1)
  })
})
