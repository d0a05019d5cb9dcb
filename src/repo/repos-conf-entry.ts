import fs from 'node:fs/promises'
import path from 'node:path'
import ini from 'ini'
import { isErrno } from '../config/load.js'
import { OlmError } from '../errors.js'

/**
 * Registers the generated repository in /etc/portage/repos.conf without
 * touching any other entry: its own file when repos.conf is a directory (or
 * absent), its own section when repos.conf is a single file. Written only
 * when the text would change, atomically, mode 0644.
 */
export async function registerRepository(reposConf: string, repoName: string, inRootLocation: string): Promise<{ changed: boolean; file: string }> {
  const section = sectionText(repoName, inRootLocation)
  const kind = await pathKind(reposConf)
  if (kind === 'file') {
    const old = await fs.readFile(reposConf, 'utf8')
    const next = replaceSection(old, repoName, section)
    if (next === old) return { changed: false, file: reposConf }
    await writeAtomic(reposConf, next)
    return { changed: true, file: reposConf }
  }
  const file = path.join(reposConf, `${repoName}.conf`)
  const old = await fs.readFile(file, 'utf8').catch((err) => (isErrno(err, 'ENOENT') ? null : Promise.reject(err)))
  const next = `# Written by olm (overlayman); it rewrites this file. Settings: /etc/overlayman/overlayman.conf\n${section}`
  if (old === next) return { changed: false, file }
  await fs.mkdir(reposConf, { recursive: true, mode: 0o755 }).catch((err: Error) => {
    throw new OlmError('WRITE_FAILED', `could not create ${reposConf}: ${err.message}`, { file: reposConf }, { cause: err })
  })
  await writeAtomic(file, next)
  return { changed: true, file }
}

function sectionText(repoName: string, location: string): string {
  // No sync-type: emerge --sync leaves the repository to olm. ini escapes what needs it.
  return ini.stringify({ [repoName]: { location, 'auto-sync': 'no' } }, { whitespace: true })
}

/** Replaces the [name] section (header to the next header) or appends one; every other byte stays. */
export function replaceSection(text: string, name: string, section: string): string {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => l.trim() === `[${name}]`)
  if (start < 0) {
    const sep = text === '' || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n'
    return `${text}${sep}${section}`
  }
  const next = lines.findIndex((l, i) => i > start && /^\s*\[.*\]\s*$/.test(l))
  let end = next < 0 ? lines.length : next
  // Comment and blank lines right above the next header belong to that section.
  const belongsAfter = next < 0 ? (l: string) => l === '' : (l: string) => /^\s*(#.*)?$/.test(l)
  while (end - 1 > start && belongsAfter(lines[end - 1]!)) end--
  const out = [...lines.slice(0, start), ...section.replace(/\n$/, '').split('\n'), ...lines.slice(end)].join('\n')
  return out.endsWith('\n') ? out : out + '\n'
}

async function pathKind(p: string): Promise<'file' | 'dir' | 'none'> {
  try {
    return (await fs.stat(p)).isDirectory() ? 'dir' : 'file'
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'none'
    throw err
  }
}

export async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.olm-${process.pid}`)
  try {
    const fh = await fs.open(tmp, 'w', 0o644)
    try {
      await fh.writeFile(text)
      await fh.chmod(0o644)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {})
    throw new OlmError('WRITE_FAILED', `could not write ${file}: ${(err as Error).message}`, { file }, { cause: err })
  }
}
