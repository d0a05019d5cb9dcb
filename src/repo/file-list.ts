import path from 'node:path'
import { isErrno } from '../config/load.js'
import type { Fs } from './publish.js'

/**
 * What a generation holds, file by file: its content id, size and mode. Kept
 * as `<generation>.files` beside the generation (portage never sees it), so
 * the next publish knows which files it can share without reading them.
 */
export type FileList = Map<string, { id: string; size: number; executable: boolean }>

const fileListName = (generation: string) => `${generation}.files`

export async function readFileList(genDir: string, generation: string, fs: Fs): Promise<FileList | null> {
  let text: string
  try {
    text = (await fs.readFile(path.join(genDir, fileListName(generation)))).toString('utf8')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null
    throw err
  }
  const list: FileList = new Map()
  for (const line of text.split('\n')) {
    if (line === '') continue
    // "<id> <size> <x|-> <relPath>": the path last, as it may hold spaces.
    const m = /^(\S+) (\d+) ([x-]) (.+)$/.exec(line)
    if (!m) return null // not a list olm wrote: verify by reading instead
    list.set(m[4]!, { id: m[1]!, size: Number(m[2]), executable: m[3] === 'x' })
  }
  return list
}

export async function removeFileList(genDir: string, generation: string, fs: Fs): Promise<void> {
  const file = path.join(genDir, fileListName(generation))
  for (const f of [file, `${file}.tmp`]) await fs.rm(f, { force: true }).catch(() => {})
}

export async function writeFileList(genDir: string, generation: string, files: FileList, fs: Fs): Promise<void> {
  const lines = [...files].map(([relPath, f]) => `${f.id} ${f.size} ${f.executable ? 'x' : '-'} ${relPath}\n`)
  const file = path.join(genDir, fileListName(generation))
  const tmp = `${file}.tmp`
  const fh = await fs.open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(lines.join(''))
    await fh.datasync()
  } finally {
    await fh.close()
  }
  await fs.rename(tmp, file)
}
