import { readFile, stat } from 'node:fs/promises'
import { parseIni, type IniSection } from '../config/ini.js'
import { OlmError, isOlmError } from '../errors.js'
import { parseRepositoriesXml, pickGitHttpsSource, type RegistryRepo } from '../pms/repositoriesxml.js'
import { writeCacheFile } from '../util/cache-file.js'
import { assertHttpUrl, fetchBuffer } from './http.js'

/**
 * Where an overlay name comes from: the user's overlays.d first, then
 * Gentoo's repositories.xml (contract.md "Files"). Only http(s) URLs are ever
 * accepted, from either place.
 */
export type OverlaySource =
  | { kind: 'git'; overlay: string; url: string; branch?: string; /** "overlays.d/foo.conf:3" or "repositories.xml" */ origin: string }
  | { kind: 'tar'; overlay: string; url: string; origin: string }

/** One `[name]` section of /etc/overlayman/overlays.d/*.conf. */
export interface UserOverlayDef {
  name: string
  syncUri: string
  syncType?: 'git' | 'tar'
  branch?: string
  file: string
  /** Line of the `[name]` header. */
  line: number
}

const KNOWN_KEYS = new Set(['sync-uri', 'sync-type', 'branch'])
/** PMS "Restrictions upon names", repository names (pms.md §2.1). */
const REPO_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/
/** A repository name must also be a valid package name: no "-<version>" tail (pms.md §2.2). */
const VERSION_TAIL = /-\d+(\.\d+)*[a-z]?(_(alpha|beta|pre|rc|p)\d*)*(-r\d+)?$/

/**
 * Parses one overlays.d file. Every section is an overlay; `sync-uri` is
 * required and must be http(s). Stops at the first problem with
 * CONFIG_INVALID and its file:line.
 */
export function parseOverlaysConf(text: string, file: string): UserOverlayDef[] {
  return parseIni(text, file).map((section) => readSection(section, file))
}

function readSection(section: IniSection, file: string): UserOverlayDef {
  const bad = (message: string, line = section.line) => new OlmError('CONFIG_INVALID', message, { file, line })
  if (section.name === '') {
    const first = [...section.values.values()][0]!
    throw bad('settings must follow an [overlay-name] section header', first.line)
  }
  if (!REPO_NAME.test(section.name) || VERSION_TAIL.test(section.name))
    throw bad(`invalid overlay name [${section.name}]: letters, digits, "_" and "-", not starting with "-", not ending in a version`)
  for (const [key, { line }] of section.values)
    if (!KNOWN_KEYS.has(key)) throw bad(`unknown key "${key}" in [${section.name}] (known: sync-uri, sync-type, branch)`, line)
  const uri = section.values.get('sync-uri')
  if (!uri || uri.value === '') throw bad(`[${section.name}] has no sync-uri`)
  checkUrl(uri.value, (m) => bad(m, uri.line))
  const def: UserOverlayDef = { name: section.name, syncUri: uri.value, file, line: section.line }
  const type = section.values.get('sync-type')
  if (type) {
    if (type.value !== 'git' && type.value !== 'tar') throw bad(`sync-type must be "git" or "tar", not "${type.value}"`, type.line)
    def.syncType = type.value
  }
  const branch = section.values.get('branch')
  if (branch) {
    if (!isBranchName(branch.value)) throw bad(`invalid branch name "${branch.value}"`, branch.line)
    if (syncTypeOf(def) !== 'git') throw bad(`branch is only meaningful for sync-type = git`, branch.line)
    def.branch = branch.value
  }
  return def
}

function checkUrl(raw: string, bad: (message: string) => OlmError): void {
  try {
    assertHttpUrl(raw)
  } catch (err) {
    if (isOlmError(err, 'UNSAFE_PATH')) throw bad(`sync-uri "${raw}" is not an http(s) URL (git over ssh, file:// and ext:: are not supported)`)
    throw err
  }
}

/** A subset of git-check-ref-format: enough to keep option-like or path-like values out. */
function isBranchName(name: string): boolean {
  return (
    /^[A-Za-z0-9._/+-]+$/.test(name) &&
    !name.startsWith('-') &&
    !name.startsWith('/') &&
    !name.endsWith('/') &&
    !name.endsWith('.') &&
    !name.endsWith('.lock') &&
    !name.includes('..') &&
    !name.includes('//')
  )
}

/** contract.md: `tar` for URLs ending .tar.gz/.tgz, else `git`. */
export function syncTypeOf(def: Pick<UserOverlayDef, 'syncUri' | 'syncType'>): 'git' | 'tar' {
  if (def.syncType) return def.syncType
  const pathname = URL.canParse(def.syncUri) ? new URL(def.syncUri).pathname : def.syncUri
  return /\.(tar\.gz|tgz)$/.test(pathname) ? 'tar' : 'git'
}

/**
 * Picks the source of `name`: the user's definition wins, then the first
 * https git source of repositories.xml. Unknown names fail with
 * OVERLAY_UNKNOWN saying where olm looked.
 */
export function resolveOverlay(
  name: string,
  user: Map<string, UserOverlayDef>,
  registry: Map<string, RegistryRepo> | null,
  where: { overlaysDir: string; repositoriesXml: string },
): OverlaySource {
  const def = user.get(name)
  if (def) {
    const origin = `${def.file}:${def.line}`
    assertHttpUrl(def.syncUri, { overlay: name, file: def.file, line: def.line })
    if (syncTypeOf(def) === 'tar') return { kind: 'tar', overlay: name, url: def.syncUri, origin }
    return def.branch === undefined
      ? { kind: 'git', overlay: name, url: def.syncUri, origin }
      : { kind: 'git', overlay: name, url: def.syncUri, branch: def.branch, origin }
  }
  const repo = registry?.get(name)
  if (!repo) {
    const xml = registry ? where.repositoriesXml : `${where.repositoriesXml} (not available)`
    throw new OlmError('OVERLAY_UNKNOWN', `unknown overlay "${name}": not in ${where.overlaysDir} nor in ${xml}`, {
      overlay: name,
      hint: `define it in ${where.overlaysDir}/${name}.conf with [${name}] and sync-uri = URL`,
    })
  }
  const source = pickGitHttpsSource(repo)
  if (!source) {
    const listed = repo.sources.map((s) => `${s.type} ${s.url}`).join(', ') || 'none'
    throw new OlmError('OVERLAY_UNKNOWN', `overlay "${name}" in ${where.repositoriesXml} has no https git source (sources: ${listed})`, {
      overlay: name,
      hint: `define it in ${where.overlaysDir}/${name}.conf with an http(s) sync-uri`,
    })
  }
  assertHttpUrl(source.url, { overlay: name })
  return { kind: 'git', overlay: name, url: source.url, origin: 'repositories.xml' }
}

export interface LoadRepositoriesXmlOptions {
  url: string
  cacheFile: string
  now: Date
  /** Age after which the cached copy is refreshed. Default one day. */
  maxAgeMs?: number
  /** false: never touch the network (olm list, --pretend). */
  refresh: boolean
  signal?: AbortSignal
}

const ONE_DAY_MS = 24 * 60 * 60 * 1000
const MAX_XML_BYTES = 64 * 1024 * 1024

/**
 * The text of repositories.xml: the cached copy, refreshed from `url` when it
 * is missing or older than maxAgeMs (by mtime) and `refresh` allows. A new
 * copy replaces the old one (temp file + rename) only after it parses; when
 * the download fails or is malformed the old copy is returned with the
 * problem in `error`. `text` is null only when there is no copy at all.
 */
export async function loadRepositoriesXml(opts: LoadRepositoriesXmlOptions): Promise<{ text: string | null; fetched: boolean; error?: OlmError }> {
  const cached = await readCached(opts.cacheFile)
  const age = cached ? opts.now.getTime() - cached.mtime.getTime() : Infinity
  const fresh = age >= 0 && age < (opts.maxAgeMs ?? ONE_DAY_MS)
  if (!opts.refresh || fresh) return { text: cached?.text ?? null, fetched: false }
  let text: string
  try {
    text = await downloadChecked(opts.url, opts.signal)
  } catch (err) {
    if (!(err instanceof OlmError)) throw err
    return { text: cached?.text ?? null, fetched: false, error: err }
  }
  try {
    await writeAtomically(opts.cacheFile, text)
  } catch (err) {
    if (!(err instanceof OlmError)) throw err
    return { text, fetched: true, error: err }
  }
  return { text, fetched: true }
}

async function downloadChecked(url: string, signal?: AbortSignal): Promise<string> {
  const { body } = await fetchBuffer(url, { signal, maxBytes: MAX_XML_BYTES, timeoutMs: 120_000 })
  const text = (body ?? Buffer.alloc(0)).toString('utf8')
  try {
    parseRepositoriesXml(text, url)
  } catch (err) {
    if (!(err instanceof OlmError)) throw err
    throw new OlmError('METADATA_INVALID', `the overlay list from ${url} is malformed: ${err.message}`, { ...err.context, url }, { cause: err })
  }
  return text
}

async function readCached(file: string): Promise<{ text: string; mtime: Date } | null> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)])
    return { text, mtime: st.mtime }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  try {
    await writeCacheFile(file, text)
  } catch (err) {
    throw new OlmError('WRITE_FAILED', `cannot write ${file}: ${(err as Error).message}`, { file }, { cause: err })
  }
}
