/**
 * `/etc/portage/repos.conf` (pms.md §7), read the way portage reads it: with
 * Python's configparser. What we reproduce:
 * - `[section]` headers; `[DEFAULT]` values are inherited by every section;
 * - `key = value` and `key: value` (split at the first `=` or `:`), keys
 *   lower-cased, values trimmed;
 * - whole-line comments starting with `#` or `;` (no inline comments);
 * - continuation lines indented deeper than their key, joined with `\n`;
 *   blank and comment lines do not end a continuation;
 * - several files act as one input in the given order: a later file overrides
 *   an earlier one per key, while a section or key repeated inside one file is
 *   an error (configparser's strict mode).
 * Not reproduced: `%` interpolation (portage disables it) and options without a value.
 * Section names are not validated here: portage drops bad ones, the caller decides.
 */
import { OlmError } from '../errors.js'

export interface RepoConfEntry {
  /** The section name. */
  name: string
  location?: string
  /** `masters` split on whitespace; undefined when the key is absent, [] when empty. */
  masters?: string[]
  priority?: number
  /** Every key of the section, [DEFAULT] values included unless overridden. */
  values: Map<string, string>
  /** Where the section header first appeared. */
  file: string
  line: number
}

export interface ReposConf {
  /** `[DEFAULT] main-repo`, else 'gentoo'. */
  mainRepo: string
  repos: Map<string, RepoConfEntry>
  defaults: Map<string, string>
}

interface Located {
  value: string
  file: string
  line: number
}

interface Section {
  name: string
  file: string
  line: number
  values: Map<string, Located>
}

const DEFAULT_SECTION = 'DEFAULT'

/**
 * Parses repos.conf files, already in portage's order (see reposConfFileOrder).
 * Throws OlmError('CONFIG_INVALID', …, {file, line}) on a line that is neither
 * header, option, comment nor continuation, an option before any header, a
 * duplicate section or key within one file, or a non-integer `priority`.
 */
export function parseReposConf(files: readonly { path: string; text: string }[]): ReposConf {
  const defaults = new Map<string, Located>()
  const sections = new Map<string, Section>()
  for (const file of files) readIniFile(file.path, file.text, defaults, sections)
  const repos = new Map<string, RepoConfEntry>()
  for (const section of sections.values()) repos.set(section.name, toEntry(section, defaults))
  return {
    mainRepo: defaults.get('main-repo')?.value || 'gentoo',
    repos,
    defaults: plainValues(defaults),
  }
}

function readIniFile(file: string, text: string, defaults: Map<string, Located>, sections: Map<string, Section>): void {
  const seen = new Set<string>()
  let target: Map<string, Located> | null = null
  let sectionName = ''
  let current: Located | null = null
  let keyIndent = 0
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1
    const stripped = raw.trim()
    if (stripped === '' || stripped.startsWith('#') || stripped.startsWith(';')) return
    const indent = raw.length - raw.trimStart().length
    if (current && indent > keyIndent) {
      current.value = current.value === '' ? stripped : `${current.value}\n${stripped}`
      return
    }
    keyIndent = indent
    current = null
    const header = /^\[(.+)\]$/.exec(stripped)
    if (header) {
      sectionName = header[1] ?? ''
      if (seen.has(sectionName)) throw invalid(`section [${sectionName}] repeated in one file`, file, line)
      seen.add(sectionName)
      target = sectionName === DEFAULT_SECTION ? defaults : openSection(sections, sectionName, file, line)
      return
    }
    if (!target) throw invalid(`'${stripped}' appears before any [section] header`, file, line)
    const option = /^(.*?)\s*[=:]\s*(.*)$/.exec(stripped)
    const key = option?.[1]?.toLowerCase() ?? ''
    if (!option || key === '') throw invalid(`'${stripped}' is not 'key = value'`, file, line)
    if (seen.has(`${sectionName}\0${key}`)) throw invalid(`key '${key}' repeated in [${sectionName}]`, file, line)
    seen.add(`${sectionName}\0${key}`)
    current = { value: option[2] ?? '', file, line }
    target.set(key, current)
  })
}

function openSection(sections: Map<string, Section>, name: string, file: string, line: number): Map<string, Located> {
  let section = sections.get(name)
  if (!section) {
    section = { name, file, line, values: new Map() }
    sections.set(name, section)
  }
  return section.values
}

function toEntry(section: Section, defaults: Map<string, Located>): RepoConfEntry {
  const merged = new Map([...defaults, ...section.values])
  const entry: RepoConfEntry = {
    name: section.name,
    values: plainValues(merged),
    file: section.file,
    line: section.line,
  }
  const location = merged.get('location')?.value
  if (location) entry.location = location
  const masters = merged.get('masters')
  if (masters) entry.masters = masters.value.split(/\s+/).filter((x) => x !== '')
  const priority = merged.get('priority')
  if (priority) entry.priority = parsePriority(priority, section.name)
  return entry
}

function parsePriority(p: Located, repo: string): number {
  if (!/^[+-]?\d+$/.test(p.value)) throw invalid(`priority of [${repo}] is not an integer: '${p.value}'`, p.file, p.line)
  return Number.parseInt(p.value, 10)
}

function plainValues(values: Map<string, Located>): Map<string, string> {
  return new Map([...values].map(([key, v]) => [key, v.value]))
}

function invalid(message: string, file: string, line: number): OlmError {
  return new OlmError('CONFIG_INVALID', message, { file, line })
}

/**
 * The order in which portage reads the files of a repos.conf directory
 * (`_recursive_file_list`): names starting with `.` or ending with `~` are
 * skipped, the rest sorted lexically (by code unit). Pass base names or
 * relative paths of one directory level.
 */
export function reposConfFileOrder(names: readonly string[]): string[] {
  return names.filter((n) => !n.startsWith('.') && !n.endsWith('~')).sort()
}
