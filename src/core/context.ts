import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { OlmError, OlmErrors } from '../errors.js'
import { listConfDir, loadRequests, loadSettings, readOptional } from '../config/load.js'
import { type SystemPaths, systemPaths, underRoot } from '../config/paths.js'
import type { Request } from '../config/requests.js'
import type { Settings } from '../config/settings.js'
import { openLocalTree, type LocalRepoLocation, type LocalTree } from '../local/local-tree.js'
import type { LocalReadLog } from '../local/local-reads.js'
import { readReposConf } from '../local/repos-conf.js'
import { type OverlaySource, type UserOverlayDef, loadRepositoriesXml, parseOverlaysConf, resolveOverlay } from '../overlay/registry.js'
import type { ReposConf } from '../pms/reposconf.js'
import { parseRepositoriesXml, type RegistryRepo } from '../pms/repositoriesxml.js'
import type { Reporter } from '../report.js'
import { writeCacheFile } from '../util/cache-file.js'

/** Everything read from --root before any network or write: what every command starts from. */
export interface Context {
  root: string
  paths: SystemPaths
  settings: Settings
  requests: Request[]
  userOverlays: Map<string, UserOverlayDef>
  /** the system's repos.conf, read up front so a broken one stops olm before any fetch */
  reposConf: ReposConf
  /** host paths */
  location: string
  cacheDir: string
  report: Reporter
  now: () => Date
  /** shows a host path as seen inside --root */
  show: (hostPath: string) => string
}

export async function loadContext(root: string, report: Reporter, now: () => Date = () => new Date()): Promise<Context> {
  const paths = systemPaths(root)
  // A mistyped --root must not grow a whole new system (repository, repos.conf) beside the real one.
  const st = await fs.stat(paths.root).catch(() => null)
  if (!st?.isDirectory()) throw new OlmError('USAGE', `--root ${root}: no such directory`)
  const errors: OlmError[] = []
  const collect = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p
    } catch (err) {
      if (err instanceof OlmErrors) errors.push(...err.errors)
      else if (err instanceof OlmError) errors.push(err)
      else throw err
    }
  }
  const loaded = await collect(loadSettings(paths))
  const requests = await collect(loadRequests(paths))
  const userOverlays = await collect(loadUserOverlays(paths))
  const reposConf = await collect(readReposConf(paths.reposConf))
  if (errors.length) throw new OlmErrors(errors)
  const settings = loaded!.settings
  const show = (p: string) => (p.startsWith(paths.root + path.sep) ? p.slice(paths.root.length) : p)
  return {
    root: paths.root,
    paths,
    settings,
    requests: requests!,
    userOverlays: userOverlays!,
    reposConf: reposConf!.conf,
    location: underRoot(root, settings.location),
    cacheDir: underRoot(root, settings.cacheDir),
    report,
    now,
    show: paths.root === '/' ? (p) => p : show,
  }
}

async function loadUserOverlays(paths: SystemPaths): Promise<Map<string, UserOverlayDef>> {
  const out = new Map<string, UserOverlayDef>()
  const errors: OlmError[] = []
  for (const file of await listConfDir(paths.overlaysDir)) {
    try {
      for (const def of parseOverlaysConf((await readOptional(file)) ?? '', file)) {
        const prior = out.get(def.name)
        if (prior) errors.push(new OlmError('CONFIG_INVALID', `overlay [${def.name}] is already defined at ${prior.file}:${prior.line}`, { file, line: def.line }))
        else out.set(def.name, def)
      }
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      errors.push(err)
    }
  }
  if (errors.length) throw new OlmErrors(errors)
  return out
}

export function registryCacheFile(ctx: Context): string {
  return path.join(ctx.cacheDir, 'repositories.xml')
}

/**
 * Where each named overlay comes from: overlays.d first, then Gentoo's
 * repositories.xml (fetched only when some name needs it). Every unknown
 * name is reported at once (exit 2, before anything is fetched); a name
 * that only repositories.xml could resolve, when no copy of it could be
 * loaded, fails like an unreachable overlay (exit 1).
 */
export async function resolveSources(ctx: Context, names: string[], opts: { refresh: boolean; signal?: AbortSignal }): Promise<Map<string, OverlaySource>> {
  const needsRegistry = names.some((n) => !ctx.userOverlays.has(n))
  const loaded = needsRegistry ? await loadRegistryReporting(ctx, opts) : { registry: null, error: undefined }
  const out = new Map<string, OverlaySource>()
  const errors: OlmError[] = []
  for (const name of names) {
    try {
      out.set(name, resolveOverlay(name, ctx.userOverlays, loaded.registry, { overlaysDir: ctx.show(ctx.paths.overlaysDir), repositoriesXml: ctx.settings.repositoriesXml }))
    } catch (err) {
      if (!(err instanceof OlmError)) throw err
      const problem = loaded.registry === null && loaded.error ? registryUnavailable(name, loaded.error) : err
      // Point at the packages.d line that names the overlay (olm add's arguments name it in the message).
      const request = ctx.requests.find((r) => r.overlay === name)
      errors.push(request && !problem.context.file ? new OlmError(problem.code, problem.message, { ...problem.context, file: ctx.show(request.file), line: request.line }, { cause: problem.cause }) : problem)
    }
  }
  if (errors.length) throw new OlmErrors(errors)
  return out
}

export async function loadRegistry(ctx: Context, opts: { refresh: boolean; signal?: AbortSignal }) {
  return (await loadRegistryReporting(ctx, opts)).registry
}

async function loadRegistryReporting(ctx: Context, opts: { refresh: boolean; signal?: AbortSignal }) {
  const loaded = await loadRepositoriesXml({ url: ctx.settings.repositoriesXml, cacheFile: registryCacheFile(ctx), now: ctx.now(), refresh: opts.refresh, signal: opts.signal })
  if (loaded.error) ctx.report.emit({ type: 'warn', code: loaded.error.code, message: `could not refresh the overlay list: ${loaded.error.message}` })
  return { registry: loaded.text === null ? null : await parsedRegistry(ctx, loaded.text), error: loaded.error }
}

/**
 * repositories.xml parsed, taken from a JSON copy beside the cached file when
 * that copy was made from the same text: parsing the 270 KB list took 55 ms of
 * every sync of an overlay from it, a third of a sync with nothing to do.
 */
async function parsedRegistry(ctx: Context, text: string): Promise<Map<string, RegistryRepo>> {
  const file = `${registryCacheFile(ctx)}.parsed.json`
  const digest = createHash('sha256').update(text).digest('hex')
  try {
    const copy = JSON.parse(await fs.readFile(file, 'utf8')) as { digest: string; repos: RegistryRepo[] }
    const whole = (r: RegistryRepo) => typeof r?.name === 'string' && typeof r.description === 'string' && Array.isArray(r.sources)
    if (copy.digest === digest && Array.isArray(copy.repos) && copy.repos.every(whole)) return new Map(copy.repos.map((r) => [r.name, r]))
  } catch {
    // none yet, or damaged: parse the list
  }
  const repos = parseRepositoriesXml(text)
  // Only a speed-up: a failure to keep it is no failure.
  await writeCacheFile(file, JSON.stringify({ digest, repos: [...repos.values()] })).catch(() => {})
  return repos
}

/**
 * An overlay only the registry could name, while the registry could not be
 * loaded at all: a fetch failure (exit 1), not a request problem (exit 2).
 */
function registryUnavailable(name: string, cause: OlmError): OlmError {
  return new OlmError(cause.code, `cannot tell where overlay "${name}" comes from: it is not in overlays.d and ${cause.message}`, { ...cause.context, overlay: name }, { cause })
}

/**
 * The repositories the system already has, minus olm's own (its packages must
 * never satisfy the dependencies that put them there). Portage assumes
 * ::gentoo at /var/db/repos/gentoo when repos.conf names none.
 */
export function openLocal(ctx: Context, log?: LocalReadLog): LocalTree {
  return openLocalTree(localRepos(ctx), log)
}

/**
 * Checks that the local tree's repositories are there before a sync uses
 * them. Without the main repository (not synced yet, moved, a --root that
 * lacks it) olm would pull from the overlay all that it satisfies and leave
 * out every ebuild inheriting its eclasses: a configuration error, before
 * anything is fetched or written. Another repository that is not there
 * satisfies nothing: said, returned as warnings.
 */
export function checkLocalRepos(ctx: Context): Promise<string[]> {
  // Once per run: olm add asks before it fetches the overlay list, the sync it runs asks again.
  let checked = localChecks.get(ctx)
  if (!checked) localChecks.set(ctx, (checked = checkLocalReposOnce(ctx)))
  return checked
}

const localChecks = new WeakMap<Context, Promise<string[]>>()

async function unusable(dir: string, main: boolean): Promise<'absent' | 'unreadable' | 'unsynced' | null> {
  const kind = async (p: string) => {
    try {
      return (await fs.stat(p)).isDirectory() ? 'dir' : 'other'
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'unreadable' : 'absent'
    }
  }
  const top = await kind(dir)
  if (top !== 'dir') return top === 'unreadable' ? 'unreadable' : 'absent'
  if (!main) return null
  const profiles = await kind(path.join(dir, 'profiles'))
  return profiles === 'dir' ? null : profiles === 'unreadable' ? 'unreadable' : 'unsynced'
}

async function checkLocalReposOnce(ctx: Context): Promise<string[]> {
  const { mainRepo, repos: entries } = ctx.reposConf
  const repos = localRepos(ctx)
  const declared = (name: string) => {
    const entry = entries.get(name)
    return entry ? { text: `${ctx.show(entry.file)}:${entry.line}`, where: { file: ctx.show(entry.file), line: entry.line } } : null
  }
  if (!repos.some((r) => r.name === mainRepo)) {
    const entry = declared(mainRepo)
    throw new OlmError(
      'CONFIG_INVALID',
      entry ? `the main repository [${mainRepo}] has no location` : `main-repo = ${mainRepo} names no repository of repos.conf`,
      entry?.where ?? { file: ctx.show(ctx.paths.reposConf) },
    )
  }
  const warnings: string[] = []
  for (const repo of repos) {
    const main = repo.name === mainRepo
    // The main repository has profiles/: without, it was never synced (a fresh stage3's empty directory).
    // Another may hold packages only, and still satisfies dependencies.
    const problem = await unusable(repo.dir, main)
    if (!problem) continue
    const entry = declared(repo.name)
    const from = entry ? `as ${entry.text} says` : 'where portage assumes it'
    const what =
      problem === 'absent' ? `is not at ${ctx.show(repo.dir)} (${from})`
      : problem === 'unreadable' ? `at ${ctx.show(repo.dir)} (${from}) cannot be read (permission denied)`
      : `at ${ctx.show(repo.dir)} (${from}) is empty or no repository (it has no profiles/)`
    if (main)
      throw new OlmError('CONFIG_INVALID', `the main repository ::${mainRepo} ${what}: olm resolves dependencies against it`, {
        ...entry?.where,
        hint: 'sync it first (emerge --sync), or give its location in /etc/portage/repos.conf',
      })
    warnings.push(`repository ::${repo.name} ${what}: it satisfies no dependency`)
  }
  return warnings
}

/** The local tree's repositories, in repos.conf order (see openLocal). */
export function localRepos(ctx: Context): LocalRepoLocation[] {
  const conf = ctx.reposConf
  const repos: LocalRepoLocation[] = []
  for (const [name, entry] of conf.repos) {
    // Portage's own repos.conf, read before the system's, gives [gentoo] its location: a section without one keeps it.
    const location = entry.location ?? (name === 'gentoo' ? DEFAULT_GENTOO : undefined)
    if (name === ctx.settings.repoName || name === 'DEFAULT' || !location) continue
    repos.push({ name, dir: underRoot(ctx.root, location) })
  }
  if (!conf.repos.has('gentoo')) repos.push({ name: 'gentoo', dir: underRoot(ctx.root, DEFAULT_GENTOO) })
  return repos
}

const DEFAULT_GENTOO = '/var/db/repos/gentoo'
