import fs from 'node:fs/promises'
import path from 'node:path'
import { writeCacheFile } from '../util/cache-file.js'

/** What `olm status` reports of the last sync; kept in cache-dir, the only place a no-change sync may write. */
export interface LastSync {
  finished: string
  command: string
  exitCode: number
  message: string
}

export async function writeLastSync(cacheDir: string, record: LastSync): Promise<void> {
  await writeCacheFile(path.join(cacheDir, 'last-sync.json'), JSON.stringify(record, null, 2) + '\n')
}

export async function readLastSync(cacheDir: string): Promise<LastSync | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(cacheDir, 'last-sync.json'), 'utf8')) as LastSync
  } catch {
    return null
  }
}
