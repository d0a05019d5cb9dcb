// The man pages against groff's linter and against the built CLI: every
// command and option `olm --help` / `olm <cmd> --help` lists must be
// documented in olm(1), in the right place.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { EXIT } from '../../src/cli/exit.js'
import { systemPaths } from '../../src/config/paths.js'
import { SETTINGS } from '../../src/config/settings.js'
import { PROJECT_ROOT, runOlm } from '../helpers/olm.js'
import { testDir } from '../helpers/tmp.js'

const PAGES = ['man/olm.1', 'man/overlayman.conf.5'].map((p) => path.join(PROJECT_ROOT, p))
const groffMissing = spawnSync('groff', ['--version']).status === 0 ? null : 'groff not installed (Debian: apt-get install groff-base)'
if (groffMissing) console.warn(`ops-man: skipping the groff lint: ${groffMissing}`)

interface Help {
  commands: string[]
  aliases: string[]
  /** long (and short) option names, e.g. "--no-sync", "-q" */
  options: string[]
}

/** Reads commander's help layout: "Options:" and "Commands:" blocks of two-space-indented rows. */
function parseHelp(text: string): Help {
  const help: Help = { commands: [], aliases: [], options: [] }
  let block = ''
  for (const line of text.split('\n')) {
    if (/^\S.*:$/.test(line)) block = line
    const row = /^ {2}(\S.*?)(?: {2,}|$)/.exec(line)?.[1]
    if (!row) continue
    if (block === 'Options:') help.options.push(...(row.match(/--?[A-Za-z][\w-]*/g) ?? []))
    // "status|info [options]": a command and its aliases; olm(1) documents the first name.
    if (block === 'Commands:') {
      const [name, ...aliases] = row.split(' ')[0]!.split('|')
      help.commands.push(name!)
      help.aliases.push(...aliases)
    }
  }
  return help
}

/** roff source to plain text, enough to search: fonts, escapes and requests gone. */
function plain(roff: string): string {
  return roff
    .split('\n')
    .filter((l) => !l.startsWith('.\\"'))
    .map((l) => l.replace(/^\.(B|I|BR|RB|BI|IB|IR|RI|SS|SH|TP|IP)\b ?/, '').replace(/^\.[a-zA-Z]+.*$/, ''))
    .join('\n')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\&/g, '')
    .replace(/"/g, '')
    .replace(/ {2,}/g, ' ')
}

/** Source split at .SH and .SS headings: heading text -> plain body. */
function sections(roff: string, macro: 'SH' | 'SS'): Map<string, string> {
  const out = new Map<string, string>()
  const parts = roff.split(new RegExp(`^(?=\\.${macro} )`, 'm'))
  for (const part of parts) {
    const m = new RegExp(`^\\.${macro} (.*)\\n`).exec(part)
    if (!m) continue
    const body = part.slice(m[0].length).split(/^\.S[HS] /m)[0]!
    out.set(plain(m[1]!).trim(), plain(body))
  }
  return out
}

const mentions = (text: string, token: string) => new RegExp(`(^|[^\\w-])${token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`).test(text)

/** What olm(1) lacks of the CLI: "command X", "option --y of X". Empty when complete. */
function missingFromMan(roff: string, top: Help, perCommand: Map<string, Help>): string[] {
  const missing: string[] = []
  const subsections = sections(roff, 'SS')
  const options = sections(roff, 'SH').get('OPTIONS') ?? ''
  const synopsis = sections(roff, 'SH').get('SYNOPSIS') ?? ''
  for (const opt of top.options) if (!mentions(options, opt)) missing.push(`global option ${opt} in OPTIONS`)
  for (const alias of top.aliases) if (!mentions(synopsis, alias)) missing.push(`alias ${alias} in SYNOPSIS`)
  for (const cmd of top.commands) {
    const body = [...subsections].find(([heading]) => heading.split(/\s+/)[1] === cmd)?.[1]
    if (body === undefined) missing.push(`command ${cmd} (.SS "olm ${cmd} ...")`)
    if (!mentions(synopsis, cmd)) missing.push(`command ${cmd} in SYNOPSIS`)
    for (const opt of perCommand.get(cmd)?.options ?? [])
      if (!top.options.includes(opt) && !(body !== undefined && mentions(body, opt))) missing.push(`option ${opt} of ${cmd}`)
  }
  return missing
}

let top: Help
const perCommand = new Map<string, Help>()
const olm1 = readFileSync(PAGES[0]!, 'utf8')
const conf5 = readFileSync(PAGES[1]!, 'utf8')

beforeAll(async () => {
  const r = await runOlm(['--help'])
  expect(r.code).toBe(0)
  top = parseHelp(r.stdout)
  for (const cmd of top.commands.filter((c) => c !== 'help')) {
    const h = await runOlm([cmd, '--help'])
    expect(h.code, `olm ${cmd} --help`).toBe(0)
    perCommand.set(cmd, parseHelp(h.stdout))
  }
})

describe('olm(1) against the CLI', () => {
  it('reads the help of the built olm', () => {
    expect(top.commands).toEqual(expect.arrayContaining(['add', 'remove', 'sync', 'list', 'why', 'overlays', 'search', 'status', 'help']))
    expect(top.options).toEqual(expect.arrayContaining(['--root', '-p', '--pretend', '-q', '--quiet', '--version', '--help']))
    expect(top.aliases).toContain('info')
    expect(perCommand.get('add')?.options).toContain('--no-sync')
    expect(perCommand.get('list')?.options).toContain('--json')
  })

  it('documents every command and option', () => {
    expect(missingFromMan(olm1, top, perCommand)).toEqual([])
  })

  it.each([
    ['a command subsection', /^\.SS "olm why.*\n/m, 'command why'],
    ['an option of a command', /^\.B \\-\\-json\n/m, 'option --json of list'],
    ['a global option', /^\.BI \\-\\-jobs " n"\n/m, 'global option --jobs'],
  ])('notices when %s is missing', (_what, cut, expected) => {
    expect(cut.test(olm1)).toBe(true)
    const missing = missingFromMan(olm1.replace(cut, ''), top, perCommand)
    expect(missing.some((m) => m.startsWith(expected))).toBe(true)
  })

  it('lists every exit status and every file olm reads or writes', () => {
    const sh = sections(olm1, 'SH')
    for (const code of Object.values(EXIT)) expect(sh.get('EXIT STATUS')).toMatch(new RegExp(`^${code}$`, 'm'))
    const p = systemPaths('/')
    for (const file of [p.packagesDir, p.packagesFile, p.overlaysDir, p.configFile, p.reposConf, '/var/cache/overlayman', '/var/db/repos/overlayman'])
      expect(sh.get('FILES'), file).toContain(file)
    for (const s of ['CLOSURE RULES', 'DECISIONS', 'EXAMPLES', 'ENVIRONMENT', 'SEE ALSO']) expect(sh.has(s), s).toBe(true)
  })
})

describe('overlayman.conf(5)', () => {
  it.each(SETTINGS.map((s) => [s.key, s.default]))('documents %s with its default %s', (key, def) => {
    const body = sections(conf5, 'SH').get('OVERLAYMAN.CONF') ?? ''
    const entry = body.split(/^(?=\S+ = )/m).find((e) => e.startsWith(`${key} = `))
    expect(entry, key).toBeDefined()
    expect(entry).toContain(`Default:\n${def}`)
  })
})

describe.skipIf(groffMissing)('groff lint', () => {
  it.each(PAGES.flatMap((page) => ['ps', 'utf8', 'ascii'].map((dev) => [path.basename(page), dev, page] as const)))('%s renders on -T%s without a warning', (_name, dev, page) => {
    const r = spawnSync('groff', ['-man', '-ww', '-z', `-T${dev}`, page], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it.each(PAGES.map((p) => [path.basename(p), p]))('%s is plain ASCII (man pages get no preconv everywhere)', (_n, page) => {
    expect(readFileSync(page).every((b) => b < 0x80)).toBe(true)
  })

  it('the lint does catch a broken page', async () => {
    const bad = path.join(await testDir(), 'bad.1')
    writeFileSync(bad, '.TH BAD 1\n.SH NAME\nbad \\- bad\n.BOGUS macro\n\\fXword\n')
    const r = spawnSync('groff', ['-man', '-ww', '-z', bad], { encoding: 'utf8' })
    expect(r.stderr).toMatch(/warning/)
  })
})
