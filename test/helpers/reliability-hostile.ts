import { readdir, readFile, lstat, readlink } from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { git } from './bare-repo.js'

/**
 * Hostile overlays built at test time: git trees with names `git add` would
 * never produce (crafted with `git mktree`), and tarballs with any header
 * (written byte by byte), so the suite can prove olm refuses or contains them.
 */

/** A git tree entry to graft: path components (any bytes but "/"), a mode git writes verbatim, the content. */
export interface GraftEntry {
  parts: string[]
  mode: string
  content: string | Buffer
}

interface TreeLine {
  mode: string
  type: 'blob' | 'tree'
  oid: string
  name: string
}

/**
 * Makes a commit on `branch` whose tree is the current one plus `entries`,
 * grafted with mktree so names like "..", "." or control characters survive.
 */
export async function graftCommit(repoDir: string, entries: GraftEntry[], branch = 'main'): Promise<string> {
  const parent = await git(['--git-dir', repoDir, 'rev-parse', `refs/heads/${branch}`])
  const tree = await graft(repoDir, `${parent}^{tree}`, entries)
  const commit = await git(['--git-dir', repoDir, 'commit-tree', tree, '-p', parent, '-m', 'hostile'])
  await git(['--git-dir', repoDir, 'update-ref', `refs/heads/${branch}`, commit])
  return commit
}

async function graft(repoDir: string, treeish: string | null, entries: GraftEntry[]): Promise<string> {
  const lines: TreeLine[] = treeish ? await lsTree(repoDir, treeish) : []
  const here = entries.filter((e) => e.parts.length === 1)
  const below = new Map<string, GraftEntry[]>()
  for (const e of entries.filter((x) => x.parts.length > 1)) below.set(e.parts[0]!, [...(below.get(e.parts[0]!) ?? []), { ...e, parts: e.parts.slice(1) }])
  for (const e of here) {
    const oid = await git(['--git-dir', repoDir, 'hash-object', '-w', '--stdin'], { input: e.content })
    setLine(lines, { mode: e.mode, type: 'blob', oid, name: e.parts[0]! })
  }
  for (const [name, sub] of below) {
    const existing = lines.find((l) => l.name === name && l.type === 'tree')
    setLine(lines, { mode: '040000', type: 'tree', oid: await graft(repoDir, existing?.oid ?? null, sub), name })
  }
  const text = lines.map((l) => `${l.mode} ${l.type} ${l.oid}\t${l.name}`).join('\0') + '\0'
  return git(['--git-dir', repoDir, 'mktree', '-z'], { input: text })
}

function setLine(lines: TreeLine[], line: TreeLine): void {
  const i = lines.findIndex((l) => l.name === line.name)
  if (i >= 0) lines[i] = line
  else lines.push(line)
}

async function lsTree(repoDir: string, treeish: string): Promise<TreeLine[]> {
  const out = await git(['--git-dir', repoDir, 'ls-tree', '-z', treeish])
  return out.split('\0').filter(Boolean).map((rec) => {
    const [meta, name] = rec.split('\t') as [string, string]
    const [mode, type, oid] = meta.split(' ') as [string, 'blob' | 'tree', string]
    return { mode, type, oid, name }
  })
}

/** One tar member; type: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' dir, '6' fifo. */
export interface TarMember {
  name: string
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6'
  mode?: number
  content?: string | Buffer
  linkname?: string
}

/** A gzipped ustar archive with exactly the given headers (names up to 100 bytes). */
export function makeTarGz(members: TarMember[]): Buffer {
  const blocks: Buffer[] = []
  for (const m of members) {
    const body = Buffer.from(m.content ?? '')
    const h = Buffer.alloc(512)
    const put = (s: string | Buffer, at: number, len: number) => Buffer.from(s).copy(h, at, 0, len)
    const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0'
    put(m.name, 0, 100)
    put(octal(m.mode ?? (m.type === '5' ? 0o755 : 0o644), 8), 100, 8)
    put(octal(0, 8), 108, 8)
    put(octal(0, 8), 116, 8)
    put(octal(m.type === undefined || m.type === '0' ? body.length : 0, 12), 124, 12)
    put(octal(1_700_000_000, 12), 136, 12)
    put('        ', 148, 8)
    put(m.type ?? '0', 156, 1)
    put(m.linkname ?? '', 157, 100)
    put('ustar\0' + '00', 257, 8)
    put(octal(0, 8), 329, 8)
    put(octal(0, 8), 337, 8)
    let sum = 0
    for (const b of h) sum += b
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
    blocks.push(h)
    if (m.type === undefined || m.type === '0') blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

/** Every file, dir and symlink of a directory as tar members under `top/` (the GitHub archive shape). */
export async function membersOf(dir: string, top: string): Promise<TarMember[]> {
  const out: TarMember[] = [{ name: `${top}/`, type: '5' }]
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name
      const st = await lstat(path.join(dir, r))
      if (st.isSymbolicLink()) out.push({ name: `${top}/${r}`, type: '2', linkname: await readlink(path.join(dir, r)) })
      else if (st.isDirectory()) {
        out.push({ name: `${top}/${r}/`, type: '5' })
        await walk(r)
      } else out.push({ name: `${top}/${r}`, content: await readFile(path.join(dir, r)), mode: st.mode & 0o777 })
    }
  }
  await walk('')
  return out
}
