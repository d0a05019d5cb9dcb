import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'

/**
 * How a new generation is made durable before it is published. An fsync per
 * file is what portage-facing tools usually do, but on a repository of 10,000
 * small files it is 10,000 waits on the disk: measured on the 2-core VM of
 * `npm run bench`, writing them took 4.2 s with an fsync each and 0.44 s
 * without, and one syncfs(2) of the file system afterwards 0.12 s. Node has
 * no binding for syncfs, so coreutils sync(1) `-f` (>= 8.24, 2015) calls it.
 */
export interface Flush {
  /** true: files need no fsync of their own, flush(dir) will make them durable (but see fsyncUpTo) */
  readonly batch: boolean
  flush(dir: string): Promise<void>
  /**
   * With batch: a recycled generation (one whose list says it was durable)
   * whose patch writes or removes up to this many paths (a changed file is
   * one of each) is made durable by an fsync of each file it writes and of
   * each directory that gained or lost an entry, not by flush(). syncfs(2) also waits
   * for every other writer's dirty data on the file system: with 600 MB of
   * another process's writes pending, a sync that bumped one copied package
   * took 0.68 s flushed and 0.42 s fsynced on the bench VM (as long as with
   * nothing pending; git fetch 0.26 s either way), and on a disk that writes
   * 100 MB/s the flush would wait ~6 s. A patch is what cron's syncs
   * publish; a first write or a clone stays one flush.
   */
  readonly fsyncUpTo?: number
}

/** File by file: each file and directory is fsynced as it is written. */
export const fileByFile: Flush = { batch: false, flush: async () => {} }

export function syncfsFlush(syncPath: string): Flush {
  return {
    batch: true,
    flush: (dir) =>
      new Promise((resolve, reject) => {
        // An absolute path: cron's PATH is not to be trusted, and never PATH lookups as root.
        const child = spawn(syncPath, ['-f', dir], { stdio: ['ignore', 'ignore', 'pipe'], env: {} })
        let stderr = ''
        child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
        child.on('error', reject)
        child.on('close', (code, signal) => {
          if (code === 0) resolve()
          else reject(Object.assign(new Error(`${syncPath} -f ${dir} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`), { code: 'EIO' }))
        })
      }),
  }
}

/**
 * See Flush.fsyncUpTo. A patch spans two publishes (the recycled generation is the one before the
 * previous): a bump of one copied package changes ~10 paths. `node bench/durability.mjs` on the
 * bench VM (virtio disk), medians of 8, flushed vs fsynced: 20 paths 170-185 vs 150-200 ms, and
 * 373 vs 198 ms with 600 MB of another writer's data unflushed; 128 paths 175 vs 175-223 ms, and
 * 411 vs 217 ms; 256 paths 198-222 vs 248-264 ms. Past ~128 the fsyncs begin to cost more than
 * the flush when nothing else is pending, and a rotating disk (not measured) pays more per fsync.
 */
const FSYNC_UP_TO = 128

/** syncfs through sync(1) where the system has it, else file by file. */
export function systemFlush(): Flush {
  const sync = ['/bin/sync', '/usr/bin/sync'].find((p) => existsSync(p))
  return sync ? { ...syncfsFlush(sync), fsyncUpTo: FSYNC_UP_TO } : fileByFile
}
