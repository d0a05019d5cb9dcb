import { createHash } from 'node:crypto'
import { OlmError } from '../errors.js'
import { linkChain, linkTargetPath, type OverlayTree, type TreeEntry } from '../overlay/tree.js'
import { formatCacheEntry } from '../pms/md5cache.js'
import type { Closure, ClosurePackage, Reason } from '../resolve/closure-types.js'
import { renderProfiles } from './profiles-text.js'

/**
 * One file of the generated repository. A file carries an id of its content,
 * not its bytes: a plan for thousands of packages would otherwise hold every
 * file in memory until it is written. The id is the overlay's own where it has
 * one ("git:<blob oid>", known without reading the file), else
 * "sha256:<hex>" of the bytes. `read` fetches the bytes (overlay trees are
 * immutable snapshots, so they are the bytes the id names).
 */
export type PlanEntry =
  | { relPath: string; kind: 'file'; id: string; executable: boolean; read: () => Promise<Buffer> }
  | { relPath: string; kind: 'symlink'; target: string }

export type FileEntry = Extract<PlanEntry, { kind: 'file' }>

/** A file entry over bytes at hand. Without `reread` the bytes are kept (small generated text); with it they are dropped and fetched again to write. */
export function fileEntry(relPath: string, content: Buffer, executable: boolean, reread?: () => Promise<Buffer>): FileEntry {
  return { relPath, kind: 'file', id: contentId(content, 'sha256'), executable, read: reread ?? (async () => content) }
}

/** The id of bytes in the scheme of `like` (an id, or a scheme name): what a file holding them would have as its id. */
export function contentId(content: Buffer, like: string): string {
  if (like.startsWith('git')) return `git:${createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex')}`
  return `sha256:${createHash('sha256').update(content).digest('hex')}`
}

export interface WritePlan {
  entries: PlanEntry[]
  /** sha256 over every entry: equal digests mean byte-identical repositories. */
  digest: string
}

export interface PlanOptions {
  repoName: string
  trees: ReadonlyMap<string, OverlayTree>
  /** how a config file's path is shown in provenance (as seen inside --root). */
  displayPath?: (file: string) => string
}

/**
 * Turns a closure into the exact list of files of the generated repository
 * (contract "The generated repository"). Reads overlay files through their
 * OverlayTree; writes nothing.
 */
export async function buildPlan(closure: Closure, opts: PlanOptions): Promise<WritePlan> {
  const entries: PlanEntry[] = []
  const text = (relPath: string, content: string) => entries.push(fileEntry(relPath, Buffer.from(content), false))
  const tree = (overlay: string) => opts.trees.get(overlay)!

  for (const [relPath, content] of renderProfiles(closure, opts.repoName)) text(relPath, content)
  for (const pkg of closure.packages) await addPackage(entries, pkg, tree(pkg.overlay))
  for (const e of closure.eclasses) entries.push(await copyFile(tree(e.overlay), `eclass/${e.name}.eclass`))
  for (const l of closure.licenses) entries.push(await copyFile(tree(l.overlay), `licenses/${l.name}`))
  for (const c of closure.categoryMetadata) entries.push(await copyFile(tree(c.overlay), `${c.category}/metadata.xml`))
  text('metadata/overlayman.json', JSON.stringify(provenance(closure, opts.repoName, opts.displayPath ?? ((f) => f)), null, 2) + '\n')

  entries.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0))
  return { entries, digest: digestOf(entries) }
}

async function addPackage(entries: PlanEntry[], pkg: ClosurePackage, tree: OverlayTree): Promise<void> {
  const pkgDir = `${pkg.category}/${pkg.pn}`
  const copied = new Set(pkg.ebuilds.map((e) => e.ebuild.relPath))
  // Only where the tree says its listings carry the ids that are logged: a tree wrapping a logging
  // one without passing readDirWithIds on would log names only, and the files' content would
  // drop out of the witness. Elsewhere each file is looked up, as before.
  const byListing = tree.readDirWithIds !== undefined
  for (const { relPath, entry } of await walk(tree, pkgDir)) {
    const isEbuild = isEbuildOf(pkgDir, relPath)
    const target = entry.type === 'symlink' ? await tree.readLink(relPath) : null
    // Left out (the user's line narrowed the versions, or it leads nowhere): not copied, but a link out of the package is still refused.
    if (isEbuild && !copied.has(relPath)) {
      if (target !== null) checkLink(tree, pkgDir, relPath, target)
      continue
    }
    const chain = isEbuild && target !== null ? await linkChain(tree, pkgDir, relPath) : null
    // A linked ebuild passing through an ebuild that is left out would dangle: it is written as the file it leads to.
    if (chain && chain.some((p) => isEbuildOf(pkgDir, p) && !copied.has(p))) {
      checkLink(tree, pkgDir, relPath, target!)
      entries.push(await copyFile(tree, chain[chain.length - 1]!, relPath))
    } else if (target !== null) entries.push({ relPath, kind: 'symlink', target: checkLink(tree, pkgDir, relPath, target) })
    // By the id its directory's listing gives (logged with the ids): looking each file up again
    // was half of planning a 1,157-package closure (~50 ms for 10,900 files).
    else if (byListing && entry.type === 'file' && entry.id) entries.push({ relPath, kind: 'file', id: entry.id, executable: entry.executable, read: rereadFrom(tree, relPath) })
    else entries.push(await copyFile(tree, relPath))
  }
  for (const { ebuild, metadata } of pkg.ebuilds) {
    const cacheRel = `metadata/md5-cache/${ebuild.category}/${ebuild.pn}-${ebuild.pvr}`
    // The overlay's own entry is copied byte for byte; evaluated metadata is written in portage's format.
    if (metadata.origin === 'md5-cache') entries.push(await copyFile(tree, cacheRel))
    else entries.push(fileEntry(cacheRel, Buffer.from(formatCacheEntry(metadata.entry)), false))
  }
}

/** Whether relPath names an ebuild of the package directory (not one in files/). */
const isEbuildOf = (pkgDir: string, relPath: string) => relPath.endsWith('.ebuild') && relPath.lastIndexOf('/') === pkgDir.length

/** Every file and symlink under dir with its listing's entry, depth first, sorted. Devices, fifos and the like are refused. */
async function walk(tree: OverlayTree, dir: string): Promise<{ relPath: string; entry: TreeEntry }[]> {
  const out: { relPath: string; entry: TreeEntry }[] = []
  const listing = tree.readDirWithIds ? await tree.readDirWithIds(dir) : await tree.readDir(dir)
  for (const e of listing ?? []) {
    const rel = `${dir}/${e.name}`
    if (e.type === 'dir') out.push(...(await walk(tree, rel)))
    else if (e.type === 'file' || e.type === 'symlink') out.push({ relPath: rel, entry: e })
    else throw new OlmError('UNSAFE_PATH', `${rel} in ::${tree.overlay} is not a regular file, directory or symlink; refusing to copy it`, { overlay: tree.overlay, file: rel })
  }
  return out
}

/** Contract: a symlink is kept only when its target stays inside its package directory. */
function checkLink(tree: OverlayTree, pkgDir: string, relPath: string, target: string): string {
  const resolved = linkTargetPath(relPath, target)
  if (resolved === null || !(resolved === pkgDir || resolved.startsWith(pkgDir + '/')))
    throw new OlmError('UNSAFE_PATH', `${relPath} in ::${tree.overlay} is a symlink to "${target}", which leaves its package directory; refusing it`, { overlay: tree.overlay, file: relPath })
  return target
}

/**
 * The bytes of a file of the snapshot, for when it is written: not logged again (the plan's own
 * read of its id is what the repository depends on), so writing 10,000 files adds no reads.
 */
function rereadFrom(tree: OverlayTree, relPath: string): () => Promise<Buffer> {
  const source = tree.unlogged ?? tree
  return async () => {
    const again = await source.readFile(relPath)
    if (again === null) throw new Error(`${relPath} vanished from the ::${tree.overlay} snapshot`)
    return again
  }
}

/** The file at `from` of the overlay, to be written at `to` (the same path but for a linked ebuild). */
async function copyFile(tree: OverlayTree, from: string, to = from): Promise<PlanEntry> {
  const entry = await tree.entry(from)
  const reread = rereadFrom(tree, from)
  // The tree knows the content's id: nothing is read until the file is written, if it is written at all.
  if (entry?.type === 'file' && entry.id) return { relPath: to, kind: 'file', id: entry.id, executable: entry.executable, read: reread }
  const content = entry?.type === 'file' ? await tree.readFile(from) : null
  if (content === null) {
    const kind = (await tree.readLink(from)) !== null ? 'a symlink' : 'not a regular file'
    throw new OlmError('UNSAFE_PATH', `${from} in ::${tree.overlay} is ${kind}; refusing to copy it`, { overlay: tree.overlay, file: from })
  }
  return fileEntry(to, content, entry?.executable ?? false, reread)
}

function digestOf(entries: PlanEntry[]): string {
  const h = createHash('sha256')
  for (const e of entries) {
    h.update(`${e.kind}\0${e.relPath}\0`)
    if (e.kind === 'symlink') h.update(e.target)
    else h.update(`${e.executable ? 'x' : '-'}\0${e.id}`)
    h.update('\0')
  }
  return h.digest('hex')
}

/**
 * The format of metadata/overlayman.json. 2: an eclass or license is needed by packages
 * ("cat/pn inherits it"), no longer by each ebuild ("cat/pn-1.0 inherits it").
 */
export const PROVENANCE_FORMAT = 2

/** metadata/overlayman.json: per package, overlay, commit, requested or pulled, needed by. No timestamps. */
function provenance(closure: Closure, repoName: string, show: (file: string) => string) {
  const reasons = (rs: Reason[]) => [...new Set(rs.map((r) => describeReason(r, show)))]
  return {
    format: PROVENANCE_FORMAT,
    repoName,
    packages: closure.packages.map((p) => ({
      package: p.cp,
      overlay: p.overlay,
      commit: p.commit,
      requested: p.requested,
      versions: p.ebuilds.map((e) => e.ebuild.pvr),
      neededBy: reasons(p.reasons),
      chain: p.chain,
    })),
    eclasses: closure.eclasses.map((e) => ({ eclass: e.name, overlay: e.overlay, commit: e.commit, neededBy: reasons(e.reasons), chain: e.chain })),
    licenses: closure.licenses.map((l) => ({ license: l.name, overlay: l.overlay, commit: l.commit, neededBy: reasons(l.reasons), chain: l.chain })),
    unsatisfied: closure.unsatisfied,
  }
}

function describeReason(r: Reason, show: (file: string) => string): string {
  switch (r.kind) {
    case 'requested':
      return `requested: ${r.request.raw} (${show(r.request.file)}:${r.request.line})`
    case 'dependency':
      return `${r.by} ${r.variable} ${r.atom}`
    case 'inherit':
      return `${r.by} inherits it`
    case 'license':
      return `${r.by} LICENSE`
  }
}
