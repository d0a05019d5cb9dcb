import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { openObjectStore, openRawPacks } from './git-objects.js'
import { PackIndexer } from './git-pack.js'
import { FileStorage } from './git-pack-storage.js'
import { incomingPackFile, installPack, listPacks, removeStaleIncoming, storeObjectReader } from './git-store.js'
import { commitTree, parseTree } from './git-tree.js'

const REF_DELTA = 7
/** Bytes handed to the indexer at once, as a download would. */
const CHUNK = 64 * 1024

/**
 * Replaces a cache's packs (one per update) by a single pack of what the
 * given commits need: their commits, trees and blobs, and the bases their
 * deltas are written against. Objects are copied as the packs hold them,
 * still deflated and still deltas (an offset delta becomes a delta by name,
 * its base being elsewhere in the new pack), so nothing is compressed again;
 * the new pack then goes through the same indexer as a download, which
 * inflates and checks every object before it replaces anything. Native git
 * does the same locally (git gc); re-cloning instead downloaded the whole
 * overlay again every maxPacks updates.
 *
 * Keeping the previous commit besides the current one lets the next sync
 * compare against it (see SyncWitness). A failure leaves the old packs.
 */
export async function consolidatePacks(storeDir: string, commits: string[]): Promise<void> {
  const before = await listPacks(storeDir)
  const wanted = reachable(storeDir, commits)
  await removeStaleIncoming(storeDir)
  const incoming = incomingPackFile(storeDir)
  let storage: FileStorage | undefined = new FileStorage(incoming)
  let installed: string[] = []
  try {
    const indexer = new PackIndexer(storage)
    writePack(storeDir, wanted, (chunk) => indexer.push(chunk))
    const reader = storeObjectReader(storeDir)
    const indexed = await indexer.finish(reader).finally(() => reader.close())
    for (const oid of wanted) if (!indexed.oids.has(oid)) throw new Error(`the consolidated pack lacks ${oid}`)
    storage.close(true)
    storage = undefined
    installed = await installPack(storeDir, indexed.checksum, incoming, indexed.idx)
    const kept = `pack-${indexed.checksum}.pack`
    // The idx first: readers find packs by it, so no reader sees a pack half removed.
    for (const name of before.filter((n) => n !== kept)) {
      await rm(path.join(storeDir, 'objects/pack', name.replace(/\.pack$/, '.idx')), { force: true })
      await rm(path.join(storeDir, 'objects/pack', name), { force: true })
    }
  } catch (err) {
    storage?.close(false)
    await Promise.all([incoming, ...installed].map((f) => rm(f, { force: true })))
    throw err
  }
}

/** Every object the commits reach (gitlinks name commits of other repositories: not included). */
function reachable(storeDir: string, commits: string[]): Set<string> {
  const store = openObjectStore(storeDir)
  const seen = new Set<string>()
  try {
    const tree = (oid: string) => {
      if (seen.has(oid)) return
      seen.add(oid)
      const obj = store.read(oid)
      if (obj?.type !== 'tree') throw new Error(`tree ${oid} is missing`)
      for (const e of parseTree(obj.data)) {
        if (e.mode === '040000') tree(e.oid)
        else if (e.mode !== '160000') seen.add(e.oid)
      }
    }
    for (const commit of commits) {
      const obj = store.read(commit)
      if (obj?.type !== 'commit') throw new Error(`commit ${commit} is missing`)
      seen.add(commit)
      tree(commitTree(obj.data))
    }
  } finally {
    store.close()
  }
  return seen
}

/**
 * Streams a pack of `wanted` (grown by every delta base) to `push`. Bases may
 * come after their deltas: the indexer resolves deltas once it has them all.
 */
function writePack(storeDir: string, wanted: Set<string>, push: (chunk: Buffer) => void): void {
  const packs = openRawPacks(storeDir)
  try {
    // Which objects, bases included, first; their bytes are read again as they are written, so the pack is never all in memory.
    const order = [...wanted]
    for (let i = 0; i < order.length; i++) {
      const raw = packs.raw(order[i]!)
      if (!raw) throw new Error(`object ${order[i]} is in no pack`)
      if (raw.baseOid && !wanted.has(raw.baseOid)) {
        wanted.add(raw.baseOid)
        order.push(raw.baseOid)
      }
    }
    const hash = createHash('sha1')
    let batch: Buffer[] = []
    let batched = 0
    const emit = (b: Buffer) => {
      hash.update(b)
      batch.push(b)
      if ((batched += b.length) >= CHUNK) flush()
    }
    const flush = () => {
      if (batch.length) push(Buffer.concat(batch))
      batch = []
      batched = 0
    }
    const header = Buffer.alloc(12)
    header.write('PACK', 0, 'latin1')
    header.writeUInt32BE(2, 4)
    header.writeUInt32BE(order.length, 8)
    emit(header)
    for (const oid of order) {
      const o = packs.raw(oid)!
      emit(encodeObjectHeader(o.baseOid ? REF_DELTA : o.kind, o.size))
      if (o.baseOid) emit(Buffer.from(o.baseOid, 'hex'))
      emit(o.deflated)
    }
    flush()
    push(hash.digest())
  } finally {
    packs.close()
  }
}

/** A pack object header: the type, then the size as git's little-endian varint. */
function encodeObjectHeader(kind: number, size: number): Buffer {
  const bytes: number[] = []
  let c = (kind << 4) | (size & 15)
  let rest = Math.floor(size / 16)
  while (rest > 0) {
    bytes.push(c | 0x80)
    c = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  bytes.push(c)
  return Buffer.from(bytes)
}
