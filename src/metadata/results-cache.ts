/**
 * Evaluated metadata kept in cache-dir, so an unchanged ebuild is never
 * evaluated twice. An entry is found by the ebuild's name and md5 (metadata
 * depends on the file name too, pms.md §5.2) and the harness version, and is
 * used only while every eclass it records still resolves to the same md5 —
 * the check portage makes on its own cache (pms.md §5.3). An eclass change
 * that would alter which eclasses get sourced necessarily changes one that
 * was sourced, so this check is sufficient.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import { type CacheEntry, formatCacheEntry, parseCacheEntry } from '../pms/md5cache.js'

export interface ResultsCacheKey {
  /** "cat/pn-pvr" */
  cpv: string
  ebuildMd5: string
}

export interface ResultsCache {
  /** The stored entry when every eclass it lists still has the recorded md5. */
  get(key: ResultsCacheKey, eclassMd5: (name: string) => Promise<string | null>): Promise<CacheEntry | null>
  put(key: ResultsCacheKey, entry: CacheEntry): Promise<void>
}

/** `version` names the harness; entries of another version are never seen. */
export function openResultsCache(cacheDir: string, version: string): ResultsCache {
  const fileOf = (key: ResultsCacheKey) => {
    const id = createHash('sha256').update(`${version}\0${key.cpv}\0${key.ebuildMd5}`).digest('hex')
    return path.join(cacheDir, 'metadata', id.slice(0, 2), id)
  }
  const madeDirs = new Set<string>()
  return {
    async get(key, eclassMd5) {
      const file = fileOf(key)
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null
        throw new OlmError('METADATA_INVALID', `cannot read the metadata cache: ${err.message}`, { file }, { cause: err })
      })
      if (text === null) return null
      let entry: CacheEntry
      try {
        entry = parseCacheEntry(text, file)
      } catch {
        return null // a damaged entry is simply evaluated again, then replaced
      }
      if (entry.md5 !== key.ebuildMd5) return null
      for (const { name, md5 } of entry.eclasses) if ((await eclassMd5(name)) !== md5) return null
      return entry
    },
    async put(key, entry) {
      const file = fileOf(key)
      const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
      try {
        if (!madeDirs.has(path.dirname(file))) await mkdir(path.dirname(file), { recursive: true })
        madeDirs.add(path.dirname(file))
        await writeFile(temp, formatCacheEntry(entry))
        await rename(temp, file)
      } catch (err) {
        throw new OlmError('WRITE_FAILED', `cannot write the metadata cache: ${(err as Error).message}`, { file }, { cause: err })
      }
    },
  }
}
