/**
 * md5-dict metadata cache entries, `metadata/md5-cache/<category>/<PF>`
 * (PMS "Metadata cache"; pms.md §5). Pure: callers read the files.
 */
import { OlmError } from '../errors.js'

export interface CacheEntry {
  /** Every KEY=VALUE except `_eclasses_` and `_md5_`, in file order. */
  keys: Map<string, string>
  /** From `_eclasses_` (name<TAB>md5 pairs), in file order. */
  eclasses: { name: string; md5: string }[]
  /** `_md5_`, the MD5 of the ebuild the entry was generated from ('' when absent). */
  md5: string
}

const ECLASSES_KEY = '_eclasses_'
const MD5_KEY = '_md5_'

/**
 * Parses one cache entry. Lines split at the first `=` (values may contain
 * `=`); a final newline is optional. Portage treats a line without `=` as a
 * corrupt entry, and so do we: OlmError('METADATA_INVALID', …, {file: where, line}),
 * also for an `_eclasses_` value with an odd number of TAB-separated fields.
 */
export function parseCacheEntry(text: string, where?: string): CacheEntry {
  const entry: CacheEntry = { keys: new Map(), eclasses: [], md5: '' }
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  lines.forEach((line, index) => {
    const eq = line.indexOf('=')
    if (eq <= 0) throw invalid(`cache line without KEY=: '${line}'`, where, index + 1)
    const key = line.slice(0, eq)
    const value = line.slice(eq + 1)
    if (key === ECLASSES_KEY) entry.eclasses = parseEclasses(value, where, index + 1)
    else if (key === MD5_KEY) entry.md5 = value
    else entry.keys.set(key, value)
  })
  return entry
}

function parseEclasses(value: string, where: string | undefined, line: number): CacheEntry['eclasses'] {
  if (value === '') return []
  const fields = value.split('\t')
  if (fields.length % 2 !== 0)
    throw invalid(`_eclasses_ has an odd number of fields (${fields.length}): '${value}'`, where, line)
  const eclasses: CacheEntry['eclasses'] = []
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] ?? ''
    const md5 = fields[i + 1] ?? ''
    if (name === '' || md5 === '') throw invalid(`_eclasses_ has an empty field: '${value}'`, where, line)
    eclasses.push({ name, md5 })
  }
  return eclasses
}

function invalid(message: string, file: string | undefined, line: number): OlmError {
  return new OlmError('METADATA_INVALID', message, { file, line })
}

/**
 * Portage's writer layout: keys sorted by code point, keys with empty values
 * omitted, then `_eclasses_` and `_md5_` (when non-empty), trailing newline.
 */
export function formatCacheEntry(e: CacheEntry): string {
  const keys = [...e.keys.keys()].filter((k) => k !== ECLASSES_KEY && k !== MD5_KEY).sort(compareCodePoints)
  const lines = keys.filter((k) => e.keys.get(k) !== '').map((k) => `${k}=${e.keys.get(k)}`)
  if (e.eclasses.length > 0) lines.push(`${ECLASSES_KEY}=${e.eclasses.map((x) => `${x.name}\t${x.md5}`).join('\t')}`)
  if (e.md5 !== '') lines.push(`${MD5_KEY}=${e.md5}`)
  return lines.map((l) => `${l}\n`).join('')
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The value of `key` ('' when absent, as portage reads omitted keys). */
export function cacheValue(e: CacheEntry, key: string): string {
  return e.keys.get(key) ?? ''
}

/**
 * contract.md "md5-cache entry valid": `_md5_` equals the ebuild's md5, and
 * every `_eclasses_` eclass that the overlay itself ships (a key of
 * `overlayEclassMd5`) has the recorded md5. Eclasses found only in the
 * masters drift between snapshots and are deliberately not checked.
 * MD5s compare case-insensitively.
 */
export function isCacheEntryValid(
  e: CacheEntry,
  ebuildMd5: string,
  overlayEclassMd5: ReadonlyMap<string, string>,
): boolean {
  if (e.md5 === '' || e.md5.toLowerCase() !== ebuildMd5.toLowerCase()) return false
  return eclassesHold(e.eclasses, overlayEclassMd5)
}

/** The eclass half of isCacheEntryValid: each eclass the overlay ships has the md5 the entry was made with. */
export function eclassesHold(eclasses: readonly { name: string; md5: string }[], overlayEclassMd5: ReadonlyMap<string, string>): boolean {
  return eclasses.every(({ name, md5 }) => {
    const shipped = overlayEclassMd5.get(name)
    return shipped === undefined || shipped.toLowerCase() === md5.toLowerCase()
  })
}

/** The INHERITED value portage rebuilds from `_eclasses_` (pms.md §5.2): eclass names, space-joined. */
export function inheritedEclasses(e: CacheEntry): string[] {
  return e.eclasses.map((x) => x.name)
}
