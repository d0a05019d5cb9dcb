import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, readdir, readFile, readlink } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const OLM_BIN = path.join(PROJECT_ROOT, 'bin/olm.js')

export interface OlmRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs the built olm binary as a user would: no TTY, no colour, a clean environment. */
export function runOlm(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<OlmRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OLM_BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
  })
}

export interface SnapshotEntry {
  type: 'file' | 'dir' | 'symlink' | 'other'
  mode: number
  /** sha256 of a file, target of a symlink */
  content?: string
}

/** Every path under dir (symlinks not followed) with type, permission bits and content hash. */
export async function snapshotTree(dir: string): Promise<Map<string, SnapshotEntry>> {
  const out = new Map<string, SnapshotEntry>()
  const walk = async (rel: string) => {
    const abs = path.join(dir, rel)
    for (const name of (await readdir(abs)).sort()) {
      const r = rel ? `${rel}/${name}` : name
      const st = await lstat(path.join(dir, r))
      const mode = st.mode & 0o7777
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', mode, content: await readlink(path.join(dir, r)) })
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode })
        await walk(r)
      } else if (st.isFile()) out.set(r, { type: 'file', mode, content: createHash('sha256').update(await readFile(path.join(dir, r))).digest('hex') })
      else out.set(r, { type: 'other', mode })
    }
  }
  await walk('')
  return out
}
