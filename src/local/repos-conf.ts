import fs from 'node:fs/promises'
import path from 'node:path'
import { type ReposConf, parseReposConf, reposConfFileOrder } from '../pms/reposconf.js'
import { isErrno } from '../config/load.js'

/**
 * Reads /etc/portage/repos.conf the way portage does: a file, or a directory
 * walked recursively with dot and `~` files skipped, in lexical order.
 */
export async function readReposConf(reposConf: string): Promise<{ conf: ReposConf; files: string[]; isDir: boolean }> {
  const files = await reposConfFiles(reposConf)
  const inputs = []
  for (const f of files) inputs.push({ path: f, text: await fs.readFile(f, 'utf8') })
  let isDir = true
  try {
    isDir = (await fs.stat(reposConf)).isDirectory()
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
  return { conf: parseReposConf(inputs), files, isDir }
}

async function reposConfFiles(p: string): Promise<string[]> {
  let st
  try {
    st = await fs.stat(p)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return []
    throw err
  }
  if (!st.isDirectory()) return [p]
  const out: string[] = []
  for (const name of reposConfFileOrder(await fs.readdir(p))) {
    if (name === '.git' || name === 'CVS' || name === '.svn') continue
    out.push(...(await reposConfFiles(path.join(p, name))))
  }
  return out
}
