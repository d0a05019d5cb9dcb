import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, lstat, readdir, readFile, readlink } from 'node:fs/promises'
import path from 'node:path'
import { commitChange, makeBareRepo } from './bare-repo.js'
import { writeMiniOverlay, type MiniOverlay } from './mini-overlay.js'
import { OLM_BIN, type OlmRun, PROJECT_ROOT, snapshotTree } from './olm.js'
import { makeSystem, type SystemOptions } from './system.js'
import { materialize } from './bare-repo.js'
import { rm } from 'node:fs/promises'

/**
 * Shared pieces of the reliability suite (test/reliability): a small overlay
 * that exercises every kind of copied file, scratch roots, and the views of a
 * root that "nothing lost" is checked against.
 */
export const KILL_HOOK = path.join(PROJECT_ROOT, 'test/helpers/reliability-kill-hook.mjs')

/** A small overlay: two packages (one pulled as a dependency), an eclass, a license, an executable, a symlink. */
export const SMALL_OVERLAY: MiniOverlay = {
  name: 'small',
  categories: ['app-misc', 'dev-libs'],
  eclasses: { 'small-utils': '# small-utils.eclass\nsmall_hello() { :; }\n' },
  licenses: ['Small-EULA'],
  packageMask: '# testing\n=app-misc/foo-2\n',
  ebuilds: {
    'app-misc/foo-1': { inherit: 'small-utils', LICENSE: 'Small-EULA', RDEPEND: 'dev-libs/bar' },
    'app-misc/foo-2': { inherit: 'small-utils', LICENSE: 'Small-EULA', RDEPEND: '>=dev-libs/bar-1' },
    'dev-libs/bar-1': { LICENSE: 'MIT' },
  },
  extraFiles: {
    'app-misc/foo/files/foo.conf': 'option = 1\n',
    'app-misc/foo/Manifest': 'DIST foo-1.tar.gz 100 BLAKE2B 00 SHA512 00\n',
    'app-misc/foo/metadata.xml': '<?xml version="1.0" encoding="UTF-8"?>\n<pkgmetadata/>\n',
    'dev-libs/bar/files/bar-1-fix.patch': '--- a\n+++ b\n',
  },
}

/** Builds the small overlay (or another) as a bare repo; returns the commit. */
export async function publishMiniOverlay(repoDir: string, overlay: MiniOverlay = SMALL_OVERLAY): Promise<string> {
  const work = await materialize({})
  try {
    await writeMiniOverlay(work, overlay)
    return await makeBareRepo(work, repoDir)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** The upstream change the crash tests publish: a file changes, one appears, one goes. */
export function smallOverlayUpdate(repoDir: string): Promise<string> {
  return commitChange(repoDir, {
    'app-misc/foo/files/foo.conf': 'option = 2\n',
    'app-misc/foo/files/run.sh': { content: '#!/bin/sh\necho run\n', executable: true },
    'app-misc/foo/files/run-link.sh': { symlink: 'run.sh' },
    'dev-libs/bar/files/bar-1-fix.patch': null,
  })
}

export async function makeRoot(root: string, opts: SystemOptions): Promise<{ root: string; repo: string; cache: string }> {
  await makeSystem(root, opts)
  return { root, repo: path.join(root, 'var/db/repos/overlayman'), cache: path.join(root, 'var/cache/overlayman') }
}

/** Copies a prepared root (symlinks kept), so every crash starts from the same state. */
export async function cloneRoot(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
}

/** Every file under etc/ with content hash, mode and mtime: the configuration nothing may touch. */
export async function configState(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [rel, e] of await snapshotTree(path.join(root, 'etc'))) {
    const st = await lstat(path.join(root, 'etc', rel))
    out[rel] = `${e.type} ${e.mode.toString(8)} ${e.content ?? ''} ${e.type === 'dir' ? '' : Math.floor(st.mtimeMs)}`
  }
  return out
}

/** The generation a repository link points at, walked whole; null when there is no repository yet. */
export async function publishedTree(repo: string): Promise<{ generation: string; files: Map<string, unknown> } | null> {
  let target: string
  try {
    target = await readlink(repo)
  } catch {
    return null
  }
  return { generation: target, files: await snapshotTree(path.resolve(path.dirname(repo), target)) }
}

export function digestOf(snapshot: Map<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify([...snapshot])).digest('hex')
}

export interface SpawnedOlm {
  pid: number
  done: Promise<OlmRun & { signal: NodeJS.Signals | null }>
  kill(): void
  /** stderr received so far */
  stderr(): string
}

/** Starts the built olm (optionally with the kill hook preloaded), not waiting for it. */
export function spawnOlm(args: string[], opts: { env?: NodeJS.ProcessEnv; preload?: boolean; umask?: string } = {}): SpawnedOlm {
  const node = [...(opts.preload ? ['--import', KILL_HOOK] : []), OLM_BIN, ...args]
  const [cmd, argv] = opts.umask
    ? ['/bin/sh', ['-c', `umask ${opts.umask} && exec "$0" "$@"`, process.execPath, ...node]]
    : [process.execPath, node]
  const child = spawn(cmd, argv, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (c: Buffer) => out.push(c))
  child.stderr!.on('data', (c: Buffer) => err.push(c))
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const done = new Promise<OlmRun & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
  })
  return { pid: child.pid!, done, kill: () => void child.kill('SIGKILL'), stderr: () => Buffer.concat(err).toString('utf8') }
}

/** Lists a directory, [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}

export { readFile }
