import path from 'node:path'
import { isErrno } from '../config/load.js'
import type { Fs } from './publish.js'

/**
 * What a generation holds, file by file: its content id, size, mode and mtime. Kept
 * as `<generation>.files` beside the generation (portage never sees it), so
 * the next publish knows which files it can share without reading them.
 */
export type FileList = Map<string, ListedFile>

export interface ListedFile {
  id: string
  size: number
  executable: boolean
  /**
   * Its mtime in ns, as written (absent in an older olm's list): an edit in place keeps the inode,
   * which every generation shares by hard link, and may keep the size, never the mtime.
   */
  mtime?: string
}

const fileListName = (generation: string) => `${generation}.files`

/**
 * The first line of a list put in place only once its generation was durable
 * (see placeFileList). Lists without it were written by an olm that put them
 * in place before the flush: a run killed in between left a list that names
 * files the disk may not have.
 */
const DURABLE = 'olm file list 2'

export interface StoredFileList {
  files: FileList
  /** whether the generation was made durable before its list was put in place */
  durable: boolean
}

export async function readFileList(genDir: string, generation: string, fs: Fs): Promise<StoredFileList | null> {
  let text: string
  try {
    text = (await fs.readFile(path.join(genDir, fileListName(generation)))).toString('utf8')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null
    throw err
  }
  const lines = text.split('\n')
  const durable = lines[0] === DURABLE
  const files: FileList = new Map()
  for (const line of durable ? lines.slice(1) : lines) {
    if (line === '') continue
    const entry = parseLine(line, durable)
    if (!entry) return null // not a list olm wrote: verify by reading instead
    files.set(entry[0], entry[1])
  }
  return { files, durable }
}

/**
 * "<id> <size> <x|-> <mtime> <relPath>" (an older olm's: no mtime): the path
 * last, as it may hold spaces. By hand, not by a regular expression: 10,000
 * lines 23 -> 9 ms, and a publish reads two lists.
 */
function parseLine(line: string, withMtime: boolean): [string, ListedFile] | null {
  const a = line.indexOf(' ')
  const b = line.indexOf(' ', a + 1)
  const flag = line[b + 1]
  if (a <= 0 || b <= a + 1 || (flag !== 'x' && flag !== '-') || line[b + 2] !== ' ' || line.length <= b + 3) return null
  if (!digits(line, a + 1, b)) return null
  const file: ListedFile = { id: line.slice(0, a), size: Number(line.slice(a + 1, b)), executable: flag === 'x' }
  if (!withMtime) return [line.slice(b + 3), file]
  const c = line.indexOf(' ', b + 3)
  // A file can have an mtime before 1970: negative.
  if (c <= b + 3 || c + 1 >= line.length || !digits(line, line[b + 3] === '-' ? b + 4 : b + 3, c)) return null
  file.mtime = line.slice(b + 3, c)
  return [line.slice(c + 1), file]
}

function digits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) < 48 || s.charCodeAt(i) > 57) return false
  return true
}

/** Removes a generation's list, placed or not. Throws when one is there and stays: its generation must not change then. */
export async function removeFileList(genDir: string, generation: string, fs: Fs): Promise<void> {
  const file = path.join(genDir, fileListName(generation))
  for (const f of [file, `${file}.tmp`]) await fs.rm(f, { force: true })
}

/**
 * Removes a placed list of that name before a generation is given the name:
 * one left beside no generation (a prune or an older olm cut short) would
 * otherwise vouch for the new one before it is durable.
 */
export async function removePlacedList(genDir: string, generation: string, fs: Fs): Promise<void> {
  await fs.rm(path.join(genDir, fileListName(generation)), { force: true })
}

/**
 * Writes the list beside its name, as `<generation>.files.tmp`: placeFileList
 * puts it in place once the generation is durable. `datasync`: false when a
 * flush of the whole file system follows.
 */
export async function writeFileList(genDir: string, generation: string, files: FileList, fs: Fs, datasync = true): Promise<void> {
  // An unknown mtime (none is) as 0, which no file on disk matches: such a file is never trusted.
  const lines = [...files].map(([relPath, f]) => `${f.id} ${f.size} ${f.executable ? 'x' : '-'} ${f.mtime ?? '0'} ${relPath}\n`)
  const fh = await fs.open(`${path.join(genDir, fileListName(generation))}.tmp`, 'w', 0o644)
  try {
    await fh.writeFile(`${DURABLE}\n${lines.join('')}`)
    if (datasync) await fh.datasync()
  } finally {
    await fh.close()
  }
}

/**
 * Puts a written list in place. Only once its generation is durable: a
 * generation with a list is trusted to be on disk as listed, and a small
 * patch of it fsyncs only what it changes (see Flush.fsyncUpTo). Lost to a
 * power loss, a list costs the next publish a slower way, never a wrong file.
 */
export async function placeFileList(genDir: string, generation: string, fs: Fs): Promise<void> {
  const file = path.join(genDir, fileListName(generation))
  await fs.rename(`${file}.tmp`, file)
}
