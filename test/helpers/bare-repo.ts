import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

/**
 * Real bare git repositories built at test time, so fixtures stay plain files
 * and every repo is reproducible: fixed author, committer and dates, no system
 * or user config (GIT_CONFIG_NOSYSTEM and an empty HOME), no automatic gc.
 */
export type FileSpec = string | Buffer | { content: string | Buffer; executable?: boolean } | { symlink: string }
/** posix path inside the repo → content; null in commitChange deletes the path. */
export type TreeSpec = Record<string, FileSpec>

const EMPTY_OID = '0'.repeat(40)
let homeDir: string | undefined
let commitClock = 1_700_000_000

export function gitEnv(): NodeJS.ProcessEnv {
  homeDir ??= mkdtempSync(path.join(tmpdir(), 'olm-git-home-'))
  mkdirSync(homeDir, { recursive: true })
  const date = `${commitClock++} +0000`
  return {
    PATH: process.env.PATH,
    HOME: homeDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Olm Test',
    GIT_AUTHOR_EMAIL: 'olm@example.invalid',
    GIT_COMMITTER_NAME: 'Olm Test',
    GIT_COMMITTER_EMAIL: 'olm@example.invalid',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
  }
}

/** Runs git, resolving with trimmed stdout; rejects with stderr on a non-zero exit. */
export function git(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-c', 'gc.auto=0', ...args], { cwd: opts.cwd, env: { ...gitEnv(), ...opts.env } })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8').trim())
      else reject(new Error(`git ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8')}`))
    })
    // git may exit without reading stdin; a late EPIPE is not an error worth reporting.
    child.stdin.on('error', () => {})
    if (opts.input === undefined) child.stdin.end()
    else child.stdin.end(opts.input)
  })
}

/**
 * Creates a bare repo at repoDir with one commit on `branch` holding srcDir's
 * files (modes and symlinks preserved) or the given tree. Returns the commit id.
 */
export async function makeBareRepo(src: string | TreeSpec, repoDir: string, branch = 'main'): Promise<string> {
  await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, repoDir])
  await git(['config', 'gc.auto', '0'], { cwd: repoDir })
  await git(['config', 'http.receivepack', 'true'], { cwd: repoDir })
  const workDir = typeof src === 'string' ? src : await materialize(src)
  const indexFile = path.join(repoDir, 'olm-build-index')
  try {
    const env = { GIT_INDEX_FILE: indexFile }
    await git(['--git-dir', repoDir, '--work-tree', workDir, 'add', '-A', '.'], { cwd: workDir, env })
    const tree = await git(['--git-dir', repoDir, 'write-tree'], { env })
    const commit = await git(['--git-dir', repoDir, 'commit-tree', tree, '-m', 'initial'])
    await git(['--git-dir', repoDir, 'update-ref', `refs/heads/${branch}`, commit])
    return commit
  } finally {
    await rm(indexFile, { force: true })
    if (typeof src !== 'string') await rm(workDir, { recursive: true, force: true })
  }
}

/** Makes one new commit on `branch` applying `changes` (null deletes). Returns the commit id. */
export async function commitChange(
  repoDir: string,
  changes: Record<string, FileSpec | null>,
  message = 'update',
  branch = 'main',
): Promise<string> {
  const indexFile = path.join(repoDir, `olm-change-index-${process.pid}`)
  const env = { GIT_INDEX_FILE: indexFile }
  try {
    const parent = await git(['--git-dir', repoDir, 'rev-parse', `refs/heads/${branch}`])
    await git(['--git-dir', repoDir, 'read-tree', parent], { env })
    const lines: string[] = []
    for (const [relPath, spec] of Object.entries(changes)) {
      if (spec === null) lines.push(`0 ${EMPTY_OID}\t${relPath}`)
      else lines.push(`${modeOf(spec)} ${await hashBlob(repoDir, spec)}\t${relPath}`)
    }
    await git(['--git-dir', repoDir, 'update-index', '--index-info'], { env, input: lines.join('\n') + '\n' })
    const tree = await git(['--git-dir', repoDir, 'write-tree'], { env })
    const commit = await git(['--git-dir', repoDir, 'commit-tree', tree, '-p', parent, '-m', message])
    await git(['--git-dir', repoDir, 'update-ref', `refs/heads/${branch}`, commit])
    return commit
  } finally {
    await rm(indexFile, { force: true })
  }
}

function modeOf(spec: FileSpec): string {
  if (typeof spec === 'object' && 'symlink' in spec) return '120000'
  if (typeof spec === 'object' && !Buffer.isBuffer(spec) && spec.executable) return '100755'
  return '100644'
}

function bytesOf(spec: FileSpec): string | Buffer {
  if (typeof spec === 'string' || Buffer.isBuffer(spec)) return spec
  return 'symlink' in spec ? spec.symlink : spec.content
}

function hashBlob(repoDir: string, spec: FileSpec): Promise<string> {
  return git(['--git-dir', repoDir, 'hash-object', '-w', '--stdin'], { input: bytesOf(spec) })
}

/** Writes a TreeSpec into a fresh temp dir (the caller removes it). */
export async function materialize(tree: TreeSpec, dir?: string): Promise<string> {
  const root = dir ?? (await mkdtemp(path.join(tmpdir(), 'olm-tree-')))
  for (const [relPath, spec] of Object.entries(tree)) {
    const file = path.join(root, relPath)
    await mkdir(path.dirname(file), { recursive: true })
    if (typeof spec === 'object' && 'symlink' in spec) await symlink(spec.symlink, file)
    else await writeFile(file, bytesOf(spec), { mode: modeOf(spec) === '100755' ? 0o755 : 0o644 })
  }
  return root
}
