import fs from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import { writeAtomic } from '../repo/repos-conf-entry.js'
import { readOptional } from './load.js'

const ADD_HEADER = '# Packages added with `olm add`. One category/package::overlay per line.\n'

/**
 * What packages.d/olm.conf will hold once `lines` are appended (created with
 * a header on first use), and the line number each appended line gets.
 */
export async function planAppend(file: string, lines: string[]): Promise<{ text: string; lineNumbers: number[] }> {
  const old = (await readOptional(file)) ?? ADD_HEADER
  const head = old === '' || old.endsWith('\n') ? old : `${old}\n`
  const first = head.split('\n').length
  return { text: `${head}${lines.map((l) => `${l}\n`).join('')}`, lineNumbers: lines.map((_, i) => first + i) }
}

export async function writeConfigFile(file: string, text: string): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 })
  } catch (err) {
    throw new OlmError('WRITE_FAILED', `could not create ${path.dirname(file)}: ${(err as Error).message}`, { file }, { cause: err })
  }
  await writeAtomic(file, text)
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

/** Puts back what a config edit replaced; used when the sync it was made for fails to publish. */
export type Undo = () => Promise<void>

/** Remembers the current text of files (null: absent), so an edit can be undone. */
export async function rememberFiles(files: string[]): Promise<Undo> {
  const saved = await Promise.all(files.map(async (f) => [f, await readOptional(f)] as const))
  return async () => {
    for (const [file, text] of saved) {
      if (text === null) await fs.rm(file, { force: true })
      else await writeAtomic(file, text)
    }
  }
}
