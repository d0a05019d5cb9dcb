import fs from 'node:fs/promises'
import path from 'node:path'
import { writeAtomic } from '../repo/repos-conf-entry.js'
import { readOptional } from './load.js'

/** Appends request lines to packages.d/olm.conf (created with a header on first use). */
export async function appendRequestLines(file: string, lines: string[]): Promise<void> {
  if (!lines.length) return
  const old = (await readOptional(file)) ?? '# Packages added with `olm add`. One category/package::overlay per line.\n'
  const sep = old === '' || old.endsWith('\n') ? '' : '\n'
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 })
  await writeAtomic(file, `${old}${sep}${lines.join('\n')}\n`)
}

/**
 * Drops the given 1-based line numbers of a file; every other byte (comments,
 * blank lines, other requests) stays as it was.
 */
export async function dropLines(file: string, lineNumbers: ReadonlySet<number>): Promise<void> {
  const old = await fs.readFile(file, 'utf8')
  const kept = old.split('\n').filter((_, i) => !lineNumbers.has(i + 1))
  await writeAtomic(file, kept.join('\n'))
}
