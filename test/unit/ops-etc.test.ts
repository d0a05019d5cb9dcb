// The shipped examples in etc/ read by olm's own parsers, and the cron.d file
// and systemd units read by small parsers of their formats (crontab(5),
// systemd.syntax(7)) that check what matters to olm: the command, the
// schedule, and that the hardened service can still write where olm writes.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseIni } from '../../src/config/ini.js'
import { parseRequestFile } from '../../src/config/requests.js'
import { SETTINGS } from '../../src/config/settings.js'
import { parseOverlaysConf } from '../../src/overlay/registry.js'

const ETC = path.join(import.meta.dirname, '..', '..', 'etc')
const read = (rel: string) => readFileSync(path.join(ETC, rel), 'utf8')
/** "#key = value" lines become "key = value": the example with every default switched on. */
const uncomment = (text: string) => text.replace(/^#(?=[\w>=~<[])/gm, '')

describe('etc/overlayman.conf', () => {
  const text = read('overlayman.conf')

  it('parses as it ships (everything commented out)', () => {
    expect(parseIni(text, 'overlayman.conf')).toEqual([])
  })

  it.each(SETTINGS.map((s) => [s.key, s.default]))('offers %s with its default %s, commented out, after a description', (key, def) => {
    const lines = text.split('\n')
    const at = lines.indexOf(`#${key} = ${def}`)
    expect(at, `#${key} = ${def}`).toBeGreaterThan(0)
    expect(lines[at - 1]).toMatch(/^# \S/)
  })

  it('switched on, sets exactly the known settings to their defaults', () => {
    const [section, ...rest] = parseIni(uncomment(text), 'overlayman.conf')
    expect(rest).toEqual([])
    expect(Object.fromEntries([...section!.values].map(([k, v]) => [k, v.value]))).toEqual(Object.fromEntries(SETTINGS.map((s) => [s.key, s.default])))
  })
})

describe('etc/packages.d/example.conf', () => {
  it('requests nothing as it ships', () => {
    expect(parseRequestFile(read('packages.d/example.conf'), 'example.conf')).toEqual({ requests: [], errors: [] })
  })

  it('has only valid requests in its examples', () => {
    const { requests, errors } = parseRequestFile(uncomment(read('packages.d/example.conf')), 'example.conf')
    expect(errors).toEqual([])
    expect(requests.map((r) => [r.cp, r.overlay, r.narrowed])).toEqual([
      ['sys-kernel/tt-kmd', 'tenstorrent', false],
      ['dev-python/foo', 'guru', true],
      ['app-misc/bar', 'guru', true],
      ['dev-libs/baz', 'guru', true],
    ])
  })
})

describe('etc/overlays.d/tenstorrent.conf', () => {
  it('defines the tenstorrent overlay over https git', () => {
    const defs = parseOverlaysConf(read('overlays.d/tenstorrent.conf'), 'tenstorrent.conf')
    expect(defs.map(({ name, syncUri, syncType, branch }) => ({ name, syncUri, syncType, branch }))).toEqual([
      { name: 'tenstorrent', syncUri: 'https://github.com/tsingletaryTT/tenstorrent-overlay.git', syncType: undefined, branch: undefined },
    ])
  })

  it('has valid commented alternatives', () => {
    const defs = parseOverlaysConf(uncomment(read('overlays.d/tenstorrent.conf')), 'tenstorrent.conf')
    expect(defs.map((d) => [d.name, d.branch])).toEqual([
      ['tenstorrent', 'main'],
      ['example-tar', undefined],
    ])
  })
})

interface CronEntry {
  line: number
  schedule: string[]
  user: string
  command: string
}

const CRON_FIELD = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
] as const

/** A /etc/cron.d file (crontab(5) with a user field). Throws "line N: why" on the first bad line. */
function parseCronD(text: string): { env: Record<string, string>; entries: CronEntry[] } {
  const env: Record<string, string> = {}
  const entries: CronEntry[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    const fail = (why: string) => {
      throw new Error(`line ${i + 1}: ${why}`)
    }
    if (line === '' || line.startsWith('#')) return
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (assign) return void (env[assign[1]!] = assign[2]!)
    const fields = line.split(/\s+/)
    if (fields.length < 7) fail('want 5 time fields, a user and a command')
    fields.slice(0, 5).forEach((f, k) => cronFieldOk(f, CRON_FIELD[k]!) || fail(`bad time field "${f}"`))
    const command = line.replace(/^(\S+\s+){6}/, '')
    // cron turns an unescaped % into a newline (crontab(5)).
    if (/(^|[^\\])%/.test(command)) fail('unescaped % in the command')
    entries.push({ line: i + 1, schedule: fields.slice(0, 5), user: fields[5]!, command })
  })
  return { env, entries }
}

function cronFieldOk(field: string, [lo, hi]: readonly [number, number]): boolean {
  return field.split(',').every((part) => {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part)
    if (!m) return false
    const nums = [m[2], m[3], m[4]].filter((n) => n !== undefined).map(Number)
    return nums.slice(0, 2).every((n) => n >= lo && n <= hi) && (m[4] === undefined || Number(m[4]) > 0)
  })
}

describe('cron.d parser', () => {
  it.each([
    ['17 3 * * * root olm sync', { user: 'root', command: 'olm sync' }],
    ['*/15 0-6 1,15 * 1-5 olm sleep 1 \\% 2', { user: 'olm', command: 'sleep 1 \\% 2' }],
  ])('reads %s', (line, want) => {
    expect(parseCronD(`SHELL=/bin/sh\n${line}\n`).entries[0]).toMatchObject({ line: 2, ...want })
  })

  it.each([
    ['60 3 * * * root olm sync', 'line 2: bad time field "60"'],
    ['17 3 * * root olm', 'line 2: want 5 time fields'],
    ['17 3 * * * root date +%s', 'line 2: unescaped %'],
    ['17 3 * 13 * root olm sync', 'line 2: bad time field "13"'],
  ])('refuses %s', (line, want) => {
    expect(() => parseCronD(`SHELL=/bin/sh\n${line}\n`)).toThrow(want)
  })
})

describe('etc/cron.d/overlayman', () => {
  const cron = parseCronD(read('cron.d/overlayman'))

  it('runs olm sync --quiet once a day as root, under /bin/sh, after a delay', () => {
    expect(cron.env.SHELL).toBe('/bin/sh')
    expect(cron.env.PATH?.split(':')).toEqual(expect.arrayContaining(['/usr/bin', '/usr/local/bin']))
    expect(cron.entries).toHaveLength(1)
    const [e] = cron.entries
    expect(e!.schedule.slice(2)).toEqual(['*', '*', '*'])
    expect(e!.schedule.slice(0, 2).every((f) => /^\d+$/.test(f))).toBe(true)
    expect(e!.user).toBe('root')
    expect(e!.command).toMatch(/^sleep .* && olm sync --quiet$/)
  })

  it('uses nothing /bin/sh may lack', () => {
    expect(cron.entries[0]!.command).not.toMatch(/\$RANDOM|\[\[|\$\{[^}]*[/^,]|function |source /)
  })
})

type Unit = Map<string, Map<string, string[]>>

/** systemd.syntax(7): [Section] headers, Key=Value (a key may repeat), # and ; comments, trailing \ continues. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map()
  let section: Map<string, string[]> | undefined
  const lines = text.replace(/\\\n/g, ' ').split('\n')
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header) {
      if (unit.has(header[1]!)) throw new Error(`line ${i + 1}: section [${header[1]}] twice`)
      unit.set(header[1]!, (section = new Map()))
      return
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    if (!kv) throw new Error(`line ${i + 1}: not Key=Value`)
    if (!section) throw new Error(`line ${i + 1}: ${kv[1]} outside a section`)
    section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!.trim()])
  })
  return unit
}

const one = (unit: Unit, section: string, key: string) => unit.get(section)?.get(key)?.at(-1)

describe('systemd unit parser', () => {
  it.each([
    ['[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true \\\n  a\n', 'Service', 'ExecStart', '/bin/true    a'],
    ['# c\n[Service]\n; c\nEnvironment=A=1\n', 'Service', 'Environment', 'A=1'],
  ])('reads %j', (text, section, key, value) => {
    expect(one(parseUnit(text), section, key)).toBe(value)
  })

  it.each([
    ['Description=x\n', 'line 1: Description outside a section'],
    ['[Unit]\nDescription\n', 'line 2: not Key=Value'],
    ['[Unit]\n[Unit]\n', 'line 2: section [Unit] twice'],
  ])('refuses %j', (text, want) => {
    expect(() => parseUnit(text)).toThrow(want)
  })
})

/** The paths ProtectSystem=strict leaves writable: ReadWritePaths, plus /var/cache/<CacheDirectory>. */
function writableUnder(service: Unit): string[] {
  const rw = (service.get('Service')?.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/^-/, ''))
  const cache = (service.get('Service')?.get('CacheDirectory') ?? []).flatMap((v) => v.split(/\s+/)).map((d) => `/var/cache/${d}`)
  return [...rw, ...cache]
}
const isWritable = (service: Unit, p: string) => writableUnder(service).some((dir) => p === dir || p.startsWith(dir + '/'))

describe('etc/systemd', () => {
  const service = parseUnit(read('systemd/olm-sync.service'))
  const timer = parseUnit(read('systemd/olm-sync.timer'))

  it('the service runs /usr/bin/olm sync --quiet once', () => {
    expect(one(service, 'Service', 'Type')).toBe('oneshot')
    expect(service.get('Service')?.get('ExecStart')).toEqual(['/usr/bin/olm sync --quiet'])
    expect(one(service, 'Unit', 'After')).toContain('network-online.target')
    expect(one(service, 'Unit', 'Documentation')).toContain('man:olm(1)')
  })

  it.each(['/var/db/repos/overlayman', '/var/db/repos/.overlayman.olm/g-0123', '/var/cache/overlayman/lock', '/etc/portage/repos.conf/overlayman.conf', '/etc/portage/repos.conf', '/etc/portage/.repos.conf.olm-1'])(
    'the hardened service can still write %s',
    (p) => {
      expect(one(service, 'Service', 'ProtectSystem')).toBe('strict')
      expect(isWritable(service, p)).toBe(true)
    },
  )

  it.each(['/etc/overlayman/packages.d/olm.conf', '/usr/bin/olm', '/var/db/pkg/x', '/home/user'])('but not %s', (p) => {
    expect(isWritable(service, p)).toBe(false)
  })

  it('keeps what node needs: no MemoryDenyWriteExecute, network families allowed', () => {
    expect(one(service, 'Service', 'MemoryDenyWriteExecute')).toBeUndefined()
    expect(one(service, 'Service', 'RestrictAddressFamilies')?.split(/\s+/)).toEqual(expect.arrayContaining(['AF_INET', 'AF_INET6']))
    expect(one(service, 'Service', 'NoNewPrivileges')).toBe('yes')
  })

  it('the timer fires daily, spread over an hour, catching up after downtime', () => {
    expect(one(timer, 'Timer', 'OnCalendar')).toBe('daily')
    expect(one(timer, 'Timer', 'RandomizedDelaySec')).toMatch(/^(1h|3600|60min)$/)
    expect(one(timer, 'Timer', 'Persistent')).toBe('true')
    expect(one(timer, 'Timer', 'Unit')).toBeUndefined() // triggers olm-sync.service by its name
    expect(one(timer, 'Install', 'WantedBy')).toBe('timers.target')
  })
})

describe('etc/portage/repo.postsync.d/50-overlayman', () => {
  it('is executable (portage skips hooks that are not)', () => {
    expect(statSync(path.join(ETC, 'portage/repo.postsync.d/50-overlayman')).mode & 0o111).toBe(0o111)
  })

  it('is a /bin/sh script', () => {
    expect(read('portage/repo.postsync.d/50-overlayman').split('\n')[0]).toBe('#!/bin/sh')
  })
})
