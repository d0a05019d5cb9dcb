import { createHash } from 'node:crypto'
import { crc32, deflateSync, inflateSync } from 'node:zlib'

/**
 * Verifies and indexes a received pack in memory, completing a thin pack.
 *
 * A thin pack (what native git receives on an update) holds REF_DELTAs whose
 * bases the receiver already has. Native git refuses such a pack in its object
 * store, so every missing base is read from the cache and appended as a whole
 * object, the object count and trailer rewritten: the result is self-contained
 * and `git fsck` clean. The trailer checksum, the object count and every
 * object's size are verified first, so a truncated or corrupt pack never
 * reaches the store. Errors are plain `PackError`s; the caller names the overlay.
 */
export type GitObjectType = 'commit' | 'tree' | 'blob' | 'tag'

export interface GitObject {
  type: GitObjectType
  data: Buffer
}

/** Reads an object the cache already holds, or null. */
export type ReadObject = (oid: string) => Promise<GitObject | null>

export interface IndexedPack {
  /** The self-contained pack (the received bytes when nothing was missing). */
  pack: Buffer
  /** Version 2 .idx for `pack`. */
  idx: Buffer
  /** Hex SHA-1 trailer of `pack`; names the files pack-<checksum>.pack/.idx. */
  checksum: string
  oids: Set<string>
  /** How many thin-pack bases were appended from the cache. */
  appended: number
}

export class PackError extends Error {
  override readonly name = 'PackError'
}

const TYPES: Record<number, GitObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' }
const KIND_OF: Record<GitObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }
const OFS_DELTA = 6
const REF_DELTA = 7

interface Entry {
  offset: number
  /** Where the zlib stream starts, to inflate a base again when its deltas are resolved. */
  dataStart: number
  end: number
  kind: number
  crc: number
  data: Buffer | undefined
  baseOffset?: number
  baseOid?: string
  oid?: string
  type?: GitObjectType
}

export async function indexPack(
  received: Buffer,
  readObject: ReadObject,
  onProgress?: (done: number, total: number) => void,
): Promise<IndexedPack> {
  const count = verifyEnvelope(received)
  const entries = parseEntries(received, count, onProgress)
  const resolver = new DeltaResolver(received, entries)
  resolver.resolveInPack()
  const appended = await appendMissingBases(resolver, readObject, received.length - 20)
  const unresolved = entries.find((e) => e.oid === undefined)
  if (unresolved) throw new PackError(`delta at offset ${unresolved.offset} has no base in the pack`)
  const pack = appended.length ? rewritePack(received, count + appended.length, appended) : received
  const checksum = pack.subarray(pack.length - 20)
  const all = [...entries, ...appended.map((a) => a.entry)]
  return {
    pack,
    idx: buildIdx(all, checksum),
    checksum: checksum.toString('hex'),
    oids: new Set(all.map((e) => e.oid!)),
    appended: appended.length,
  }
}

/** Checks signature, version and trailer; returns the object count. */
function verifyEnvelope(pack: Buffer): number {
  if (pack.length < 32 || pack.toString('latin1', 0, 4) !== 'PACK')
    throw new PackError(`not a pack (${pack.length} bytes received)`)
  const version = pack.readUInt32BE(4)
  if (version !== 2 && version !== 3) throw new PackError(`unsupported pack version ${version}`)
  const trailer = pack.subarray(pack.length - 20)
  const actual = createHash('sha1').update(pack.subarray(0, pack.length - 20)).digest()
  if (!actual.equals(trailer))
    throw new PackError(`pack checksum mismatch (truncated or corrupt, ${pack.length} bytes received)`)
  return pack.readUInt32BE(8)
}

function parseEntries(pack: Buffer, count: number, onProgress?: (done: number, total: number) => void): Entry[] {
  const entries: Entry[] = []
  const limit = pack.length - 20
  let p = 12
  for (let i = 0; i < count; i++) {
    if (p >= limit) throw new PackError(`pack holds ${i} objects, header says ${count}`)
    const offset = p
    let c = pack[p++]!
    const kind = (c >> 4) & 7
    let size = c & 15
    for (let shift = 4; c & 0x80; shift += 7) {
      c = pack[p++]!
      size += (c & 0x7f) * 2 ** shift
    }
    const entry: Entry = { offset, dataStart: 0, end: 0, kind, crc: 0, data: undefined }
    if (kind === OFS_DELTA) [entry.baseOffset, p] = readOfsBase(pack, p, offset)
    else if (kind === REF_DELTA) [entry.baseOid, p] = [pack.toString('hex', p, p + 20), p + 20]
    else if (!TYPES[kind]) throw new PackError(`bad object type ${kind} at offset ${offset}`)
    entry.dataStart = p
    // An output chunk of the announced size avoids zlib's 16 KiB default per object (churn and slack).
    const { buffer, engine } = inflateSync(pack.subarray(p, limit), { info: true, chunkSize: size + 64 }) as unknown as {
      buffer: Buffer
      engine: { bytesWritten: number }
    }
    if (buffer.length !== size) throw new PackError(`object at offset ${offset} has ${buffer.length} bytes, header says ${size}`)
    p += engine.bytesWritten
    // Whole objects are hashed now and inflated again only if something deltas against them:
    // keeping every object's bytes would cost several times the pack in memory.
    Object.assign(entry, { end: p, crc: crc32(pack.subarray(offset, p)) })
    if (TYPES[kind]) nameObject(entry, TYPES[kind]!, buffer)
    else entry.data = buffer
    entries.push(entry)
    if (onProgress && i % 1000 === 0) onProgress(i, count)
  }
  if (p !== limit) throw new PackError(`${limit - p} unexpected bytes after the last object`)
  return entries
}

function readOfsBase(pack: Buffer, p: number, offset: number): [number, number] {
  let c = pack[p++]!
  let ofs = c & 0x7f
  while (c & 0x80) {
    c = pack[p++]!
    ofs = (ofs + 1) * 128 + (c & 0x7f)
  }
  if (ofs <= 0 || ofs > offset) throw new PackError(`bad delta base offset at ${offset}`)
  return [offset - ofs, p]
}

function nameObject(entry: Entry, type: GitObjectType, data: Buffer): void {
  entry.type = type
  entry.oid = createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex')
}

/** Resolves delta chains depth-first from each base, so only one chain's data is alive at a time. */
class DeltaResolver {
  private readonly ofsChildren = new Map<number, Entry[]>()
  readonly refChildren = new Map<string, Entry[]>()

  constructor(
    private readonly pack: Buffer,
    private readonly entries: Entry[],
  ) {
    for (const e of entries) {
      if (e.baseOffset !== undefined) push(this.ofsChildren, e.baseOffset, e)
      if (e.baseOid !== undefined) push(this.refChildren, e.baseOid, e)
    }
  }

  resolveInPack(): void {
    for (const e of this.entries) {
      if (e.kind === OFS_DELTA || e.kind === REF_DELTA) continue
      if (!this.ofsChildren.has(e.offset) && !this.refChildren.has(e.oid!)) continue
      this.resolveChildren(e, inflateSync(this.pack.subarray(e.dataStart, e.end)))
    }
  }

  resolveChildren(base: Entry, baseData: Buffer): void {
    const children = [...(this.ofsChildren.get(base.offset) ?? []), ...(this.refChildren.get(base.oid!) ?? [])]
    this.refChildren.delete(base.oid!)
    for (const child of children) {
      const data = applyDelta(baseData, child.data!, child.offset)
      child.data = undefined
      nameObject(child, base.type!, data)
      this.resolveChildren(child, data)
    }
  }
}

function push<K>(map: Map<K, Entry[]>, key: K, e: Entry): void {
  const list = map.get(key)
  if (list) list.push(e)
  else map.set(key, [e])
}

interface Appended {
  entry: Entry
  bytes: Buffer
}

/** Turns a thin pack's external REF_DELTA bases into whole objects appended after the last one. */
async function appendMissingBases(resolver: DeltaResolver, readObject: ReadObject, start: number): Promise<Appended[]> {
  const appended: Appended[] = []
  let offset = start
  while (resolver.refChildren.size > 0) {
    const oid = resolver.refChildren.keys().next().value!
    const obj = await readObject(oid)
    if (!obj) throw new PackError(`thin pack needs base object ${oid}, which the cache lacks`)
    const bytes = Buffer.concat([encodeHeader(KIND_OF[obj.type], obj.data.length), deflateSync(obj.data)])
    const entry: Entry = { offset, dataStart: 0, end: offset + bytes.length, kind: KIND_OF[obj.type], crc: crc32(bytes), data: undefined }
    nameObject(entry, obj.type, obj.data)
    if (entry.oid !== oid) throw new PackError(`cache object ${oid} hashes to ${entry.oid}`)
    appended.push({ entry, bytes })
    offset += bytes.length
    resolver.resolveChildren(entry, obj.data)
  }
  return appended
}

function encodeHeader(kind: number, size: number): Buffer {
  const out = [(kind << 4) | (size & 15)]
  for (let rest = Math.floor(size / 16); rest > 0; rest = Math.floor(rest / 128)) {
    out[out.length - 1]! |= 0x80
    out.push(rest & 0x7f)
  }
  return Buffer.from(out)
}

function rewritePack(received: Buffer, count: number, appended: Appended[]): Buffer {
  const body = Buffer.concat([received.subarray(0, received.length - 20), ...appended.map((a) => a.bytes)])
  body.writeUInt32BE(count, 8)
  return Buffer.concat([body, createHash('sha1').update(body).digest()])
}

/** Applies a git delta (varint sizes, then copy/insert opcodes) to base. */
export function applyDelta(base: Buffer, delta: Buffer, at = 0): Buffer {
  let p = 0
  const varint = () => {
    let v = 0
    for (let shift = 0; ; shift += 7) {
      const c = delta[p++]!
      v += (c & 0x7f) * 2 ** shift
      if (!(c & 0x80)) return v
    }
  }
  if (varint() !== base.length) throw new PackError(`delta at offset ${at}: base size mismatch`)
  const out = Buffer.allocUnsafe(varint())
  let o = 0
  while (p < delta.length) {
    const op = delta[p++]!
    if (op & 0x80) {
      let off = 0
      let len = 0
      for (let b = 0; b < 4; b++) if (op & (1 << b)) off += delta[p++]! * 2 ** (8 * b)
      for (let b = 0; b < 3; b++) if (op & (0x10 << b)) len += delta[p++]! * 2 ** (8 * b)
      if (len === 0) len = 0x10000
      if (off + len > base.length || o + len > out.length) throw new PackError(`delta at offset ${at}: copy out of range`)
      o += base.copy(out, o, off, off + len)
    } else if (op) {
      if (p + op > delta.length || o + op > out.length) throw new PackError(`delta at offset ${at}: insert out of range`)
      o += delta.copy(out, o, p, p + op)
      p += op
    } else throw new PackError(`delta at offset ${at}: reserved opcode 0`)
  }
  if (o !== out.length) throw new PackError(`delta at offset ${at}: result size mismatch`)
  return out
}

/** Pack index version 2: fanout, sorted names, CRC32s, 31-bit offsets plus a 64-bit table, checksums. */
function buildIdx(entries: Entry[], packChecksum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => (a.oid! < b.oid! ? -1 : a.oid! > b.oid! ? 1 : 0))
  const n = sorted.length
  const large = sorted.filter((e) => e.offset >= 0x80000000)
  const buf = Buffer.alloc(8 + 1024 + n * 28 + large.length * 8 + 40)
  buf.writeUInt32BE(0xff744f63, 0)
  buf.writeUInt32BE(2, 4)
  const fanout = new Uint32Array(256)
  for (const e of sorted) fanout[parseInt(e.oid!.slice(0, 2), 16)]!++
  for (let i = 0, total = 0; i < 256; i++) buf.writeUInt32BE((total += fanout[i]!), 8 + i * 4)
  let p = 8 + 1024
  for (const e of sorted) p += buf.write(e.oid!, p, 'hex')
  for (const e of sorted) p = buf.writeUInt32BE(e.crc >>> 0, p)
  let li = 0
  for (const e of sorted) p = buf.writeUInt32BE(e.offset >= 0x80000000 ? (0x80000000 | li++) >>> 0 : e.offset, p)
  for (const e of large) p = buf.writeBigUInt64BE(BigInt(e.offset), p)
  p += packChecksum.copy(buf, p)
  createHash('sha1').update(buf.subarray(0, p)).digest().copy(buf, p)
  return buf
}
