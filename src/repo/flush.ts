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
  /** true: files need no fsync of their own, flush(dir) will make them durable */
  readonly batch: boolean
  flush(dir: string): Promise<void>
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

/** syncfs through sync(1) where the system has it, else file by file. */
export function systemFlush(): Flush {
  const sync = ['/bin/sync', '/usr/bin/sync'].find((p) => existsSync(p))
  return sync ? syncfsFlush(sync) : fileByFile
}
