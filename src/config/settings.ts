/**
 * The settings of /etc/overlayman/overlayman.conf: the single source of truth
 * for names, defaults and descriptions (the man page and `olm --help` follow it).
 */
export interface Settings {
  repoName: string
  location: string
  cacheDir: string
  repositoriesXml: string
  jobs: number
}

export interface SettingDef {
  key: string
  field: keyof Settings
  type: 'string' | 'path' | 'url' | 'int'
  default: string
  description: string
}

export const SETTINGS: readonly SettingDef[] = [
  { key: 'repo-name', field: 'repoName', type: 'string', default: 'overlayman', description: 'name of the generated repository (profiles/repo_name and the repos.conf section)' },
  { key: 'location', field: 'location', type: 'path', default: '/var/db/repos/overlayman', description: 'where the generated repository lives, as seen inside --root' },
  { key: 'cache-dir', field: 'cacheDir', type: 'path', default: '/var/cache/overlayman', description: 'shallow overlay caches and the cached repositories.xml; disposable' },
  { key: 'repositories-xml', field: 'repositoriesXml', type: 'url', default: 'https://api.gentoo.org/overlays/repositories.xml', description: "Gentoo's list of overlays, used for names not defined in overlays.d" },
  { key: 'jobs', field: 'jobs', type: 'int', default: '4', description: 'overlays fetched in parallel' },
]

export function defaultSettings(): Settings {
  const s: Record<string, string | number> = {}
  for (const def of SETTINGS) s[def.field] = def.type === 'int' ? Number(def.default) : def.default
  return s as unknown as Settings
}
