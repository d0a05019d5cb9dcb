import fs from 'node:fs/promises'
import path from 'node:path'
import { isErrno } from '../config/load.js'
import { cachedCommit, openGitTree } from '../overlay/git.js'
import { tarSource } from '../overlay/fetch.js'
import type { OverlayTree } from '../overlay/tree.js'

export interface CachedOverlay {
  overlay: string
  kind: 'git' | 'tar'
  dir: string
  /** last change of the cache (a fetch that brought something, or the first one) */
  mtime: Date
  open(): Promise<OverlayTree | null>
}

/**
 * Every overlay cache under cache-dir/overlays (named `<overlay>.<kind>.<url key>`
 * by overlay/fetch.ts), for commands that work without the network.
 */
export async function listCachedOverlays(cacheDir: string): Promise<CachedOverlay[]> {
  const base = path.join(cacheDir, 'overlays')
  let names: string[]
  try {
    names = (await fs.readdir(base)).sort()
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return []
    throw err
  }
  const out: CachedOverlay[] = []
  for (const name of names) {
    const m = /^(.+)\.(git|tar)\.[0-9a-f]{12}$/.exec(name)
    if (!m) continue
    const [, overlay, kind] = m as unknown as [string, string, 'git' | 'tar']
    const dir = path.join(base, name)
    const st = await fs.stat(dir)
    out.push({
      overlay,
      kind,
      dir,
      mtime: st.mtime,
      open: async () => {
        if (kind === 'tar') return (await tarSource()).openTarTree(dir, overlay)
        const commit = await cachedCommit(dir)
        return commit ? openGitTree(dir, overlay, commit) : null
      },
    })
  }
  return out
}
