import { createHash } from 'node:crypto'
import { readFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { OlmError } from '../errors.js'
import { md5Hex } from '../pms/md5.js'

/** A master's eclasses by name, as read at one moment. */
export type EclassSnapshot = Map<string, { bytes: Buffer; md5: string }>

/** The `NAME.eclass` files of a master's eclass directory (symlinks followed, as bash would); empty when absent. */
export async function readEclassDir(dir: string): Promise<EclassSnapshot> {
  const out: EclassSnapshot = new Map()
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out
    throw new OlmError('METADATA_INVALID', `cannot read the eclass directory ${dir}: ${(err as Error).message}`, { file: dir }, { cause: err })
  }
  for (const name of names.filter((n) => n.endsWith('.eclass')).sort()) {
    const bytes = await readRegularFile(path.join(dir, name))
    if (bytes) out.set(name.slice(0, -'.eclass'.length), { bytes, md5: md5Hex(bytes) })
  }
  return out
}

/** One digest for a snapshot: equal digests, the same eclasses with the same bytes. */
export function eclassDirDigest(snapshot: EclassSnapshot): string {
  const h = createHash('sha256')
  for (const [name, { md5 }] of snapshot) h.update(`${name}\0${md5}\0`)
  return h.digest('hex')
}

async function readRegularFile(file: string): Promise<Buffer | null> {
  try {
    if (!(await stat(file)).isFile()) return null
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null
    throw err
  }
}
