import fs from 'node:fs'
import git, { type TreeEntry as GitTreeEntry } from 'isomorphic-git'
import { OlmError } from '../errors.js'
import type { OverlayTree, TreeEntry, TreeEntryType } from './tree.js'
import { readState } from './git-store.js'

/**
 * An OverlayTree reading straight from a git source's object store at one
 * commit (default: the cached branch head). Modes map as git stores them:
 * 100755 → executable file, 120000 → symlink, 040000 → dir, anything else
 * (gitlinks 160000) → 'other'. Trees are memoized per path; one isomorphic-git
 * cache keeps packs parsed across reads.
 */
export async function openGitTree(cacheDir: string, overlay: string, commit?: string): Promise<OverlayTree> {
  const oid = commit ?? (await readState(cacheDir)).commit
  if (!oid) throw new OlmError('REF_NOT_FOUND', `no cached commit for overlay '${overlay}' in ${cacheDir}`, { overlay })
  const cache = {}
  const { commit: c } = await git.readCommit({ fs, gitdir: cacheDir, oid, cache })
  const trees = new Map<string, Promise<GitTreeEntry[] | null>>()
  trees.set('', git.readTree({ fs, gitdir: cacheDir, oid: c.tree, cache }).then((t) => t.tree))

  const treeAt = (relPath: string): Promise<GitTreeEntry[] | null> => {
    let found = trees.get(relPath)
    if (!found) {
      found = entryAt(relPath).then((e) =>
        e?.type === 'tree' ? git.readTree({ fs, gitdir: cacheDir, oid: e.oid, cache }).then((t) => t.tree) : null,
      )
      trees.set(relPath, found)
    }
    return found
  }
  const entryAt = async (relPath: string): Promise<GitTreeEntry | null> => {
    const slash = relPath.lastIndexOf('/')
    const parent = await treeAt(slash < 0 ? '' : relPath.slice(0, slash))
    return parent?.find((e) => e.path === relPath.slice(slash + 1)) ?? null
  }
  const blobOf = async (relPath: string, mode: 'file' | 'symlink'): Promise<Buffer | null> => {
    const e = await entryAt(normalize(relPath))
    if (!e || typeOf(e.mode) !== mode) return null
    const { blob } = await git.readBlob({ fs, gitdir: cacheDir, oid: e.oid, cache })
    return Buffer.from(blob)
  }

  return {
    overlay,
    commit: oid,
    async readDir(relPath) {
      const entries = await treeAt(normalize(relPath))
      if (!entries) return null
      return entries
        .map((e): TreeEntry => ({ name: e.path, type: typeOf(e.mode), executable: e.mode === '100755' }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    },
    readFile: (relPath) => blobOf(relPath, 'file'),
    readLink: async (relPath) => (await blobOf(relPath, 'symlink'))?.toString('utf8') ?? null,
  }
}

function typeOf(mode: string): TreeEntryType {
  if (mode === '040000' || mode === '40000') return 'dir'
  if (mode === '100644' || mode === '100755') return 'file'
  if (mode === '120000') return 'symlink'
  return 'other'
}

function normalize(relPath: string): string {
  return relPath.replace(/^\.\/+/, '').replace(/\/+$/, '').replace(/\/{2,}/g, '/')
}
