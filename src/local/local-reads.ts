import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import { isErrno } from '../config/load.js'
import { type LoggedRead, ReadLog } from '../util/read-log.js'
import { eclassDirDigest, readEclassDir } from './eclass-dir.js'

/**
 * Every way olm reads the system's own repositories (the local tree and the
 * masters' eclasses). Each read can be logged with a digest of what it saw, so
 * a later run can tell, by doing the same reads again, whether anything a
 * resolution depended on has changed — without resolving again.
 */
export type ReadKind = 'dir' | 'file' | 'exists' | 'eclasses'

/** One read and the digest of its answer. */
export type LocalRead = LoggedRead<ReadKind>

export class LocalReadLog extends ReadLog<ReadKind> {}

const ABSENT = '-'

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** The names in dir, sorted; [] when it is missing or not a directory. */
export async function listDir(dir: string, log?: LocalReadLog): Promise<string[]> {
  let names: string[] | null
  try {
    names = (await fs.readdir(dir)).sort()
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err
    names = null
  }
  log?.record('dir', dir, names === null ? ABSENT : sha256(names.join('\0')))
  return names ?? []
}

/** A file's text; null when it is missing or not a file. */
export async function readOr(file: string, log?: LocalReadLog): Promise<string | null> {
  let text: string | null
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR') && !isErrno(err, 'EISDIR')) throw err
    text = null
  }
  log?.record('file', file, text === null ? ABSENT : sha256(text))
  return text
}

export async function exists(p: string, log?: LocalReadLog): Promise<boolean> {
  const found = await fs.access(p).then(
    () => true,
    () => false,
  )
  log?.record('exists', p, found ? '1' : '0')
  return found
}

/** What a read gives now, as the digest its log entry would carry. */
async function digestNow(kind: ReadKind, path: string): Promise<string> {
  const log = new LocalReadLog()
  if (kind === 'dir') await listDir(path, log)
  else if (kind === 'file') await readOr(path, log)
  else if (kind === 'exists') await exists(path, log)
  else return eclassDirDigest(await readEclassDir(path))
  return log.reads()[0]![2]
}

/** Whether every read still gives the answer it gave; stops at the first that does not. */
export async function readsUnchanged(reads: readonly LocalRead[], concurrency = 16): Promise<boolean> {
  let next = 0
  let same = true
  const runner = async () => {
    while (same && next < reads.length) {
      const [kind, path, digest] = reads[next++]!
      if ((await digestNow(kind, path).catch(() => null)) !== digest) same = false
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, reads.length) }, runner))
  return same
}
