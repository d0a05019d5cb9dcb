/**
 * `metadata/layout.conf` (portage `parse_layout_conf`; pms.md §1.3): lines of
 * `key = value`, `#` comment lines, no inline comments. List values are
 * whitespace-separated. Pure: the caller reads the file.
 */
import { OlmError } from '../errors.js'
import { isValidRepoName } from './names.js'

export interface LayoutConf {
  /** `masters`: undefined when the key is absent (portage then implies the main repo), [] when present but empty. */
  masters: string[] | undefined
  /** `repo-name`, which overrides profiles/repo_name. */
  repoName?: string
  /** `thin-manifests = true` (case-insensitive); default false. */
  thinManifests: boolean
  /** `cache-formats` ([] when absent: the caller auto-detects from metadata/md5-cache). */
  cacheFormats: string[]
  /** `profile-formats` ([] when absent). */
  profileFormats: string[]
  /** Every key as written (last assignment wins), values trimmed and unquoted. */
  values: Map<string, string>
}

/**
 * Parses layout.conf text. A non-comment line without `=`, an invalid
 * `repo-name` or an invalid master name throws
 * OlmError('METADATA_INVALID', …, {file, line}).
 */
export function parseLayoutConf(text: string, file?: string): LayoutConf {
  const values = new Map<string, string>()
  const lines = new Map<string, number>()
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const eq = line.indexOf('=')
    const key = eq < 0 ? '' : line.slice(0, eq).trim()
    if (key === '') throw new OlmError('METADATA_INVALID', `layout.conf line is not 'key = value': '${line}'`, { file, line: index + 1 })
    values.set(key, unquote(line.slice(eq + 1).trim()))
    lines.set(key, index + 1)
  })
  const conf: LayoutConf = {
    masters: values.has('masters') ? splitList(values.get('masters')) : undefined,
    thinManifests: values.get('thin-manifests')?.toLowerCase() === 'true',
    cacheFormats: splitList(values.get('cache-formats')),
    profileFormats: splitList(values.get('profile-formats')),
    values,
  }
  const repoName = values.get('repo-name')
  if (repoName !== undefined) conf.repoName = repoName
  checkRepoNames('masters', conf.masters ?? [], { file, line: lines.get('masters') })
  checkRepoNames('repo-name', repoName === undefined ? [] : [repoName], { file, line: lines.get('repo-name') })
  return conf
}

function checkRepoNames(key: string, names: string[], where: { file?: string; line?: number }): void {
  const bad = names.find((name) => !isValidRepoName(name))
  if (bad !== undefined)
    throw new OlmError('METADATA_INVALID', `invalid repository name '${bad}' in layout.conf ${key}`, where)
}

/** portage reads layout.conf through a shell-like lexer, so `key = "a b"` means `a b`. */
function unquote(value: string): string {
  const match = /^(["'])(.*)\1$/.exec(value)
  return match ? (match[2] ?? '') : value
}

function splitList(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(/\s+/).filter((x) => x !== '')
}

/**
 * Writes `key = value` lines in the given order with a trailing newline
 * (the form eselect-repository writes), e.g. for the generated repository:
 * `formatLayoutConf([['masters', 'gentoo'], ['thin-manifests', 'true'], ['sign-manifests', 'false']])`.
 */
export function formatLayoutConf(entries: Iterable<readonly [string, string]>): string {
  let out = ''
  for (const [key, value] of entries) {
    if (/[\s=]/.test(key) || key === '' || value.includes('\n'))
      throw new Error(`cannot write layout.conf entry ${JSON.stringify([key, value])}`)
    out += `${key} = ${value}\n`
  }
  return out
}
