import { createHash, hash } from 'node:crypto'
import { crc32, deflateSync } from 'node:zlib'
import { type Inflated, inflateStream } from './zlib-stream.js'
import { BufferStorage, ByteArena, type PackStorage } from './git-pack-storage.js'

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

/**
 * Reads an object of the cache a thin pack deltas against, or null. With `whole`, the
 * deflated bytes of an object the cache stores whole (not as a delta), or null:
 * appended as they are instead of deflated again.
 */
export type ReadObject = ((oid: string) => Promise<GitObject | null>) & { whole?: (oid: string) => (GitObject & { deflated: Buffer }) | null }

export interface IndexedPack {
  /** The self-contained pack (the received bytes when nothing was missing); absent when it went to a file. */
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
  /** inflated size, as the object's header says */
  size: number
  crc: number
  /** A delta's instructions in the indexer's arena (-1: none; whole objects are not kept). */
  delta: number
  deltaLen: number
  baseOffset?: number
  baseOid?: string
  oid?: string
  type?: GitObjectType
}

/** Indexes a pack held in memory (see PackIndexer). */
export async function indexPack(
  received: Buffer,
  readObject: ReadObject,
  onProgress?: (done: number, total: number) => void,
): Promise<IndexedPack> {
  const storage = new BufferStorage()
  const indexer = new PackIndexer(storage, onProgress)
  indexer.push(received)
  const res = await indexer.finish(readObject)
  return { ...res, pack: storage.bytes() }
}

/**
 * Verifies and indexes a pack as it arrives: push() the received bytes (each
 * goes to the storage at once, and whole objects are hashed and forgotten),
 * then finish(). Memory stays near the entries' bookkeeping plus the delta
 * instructions, not the pack.
 */
export class PackIndexer {
  private readonly entries: Entry[] = []
  private readonly arena = new ByteArena()
  private readonly hash = createHash('sha1')
  /** The last 20 bytes seen: the trailer, once the stream ends, so never hashed. */
  private held = Buffer.alloc(0)
  private pending: Buffer[] = []
  private pendingLen = 0
  /** Absolute offset of pending's first byte. */
  private pos = 0
  /** Don't retry a cut-off object before this many bytes are pending (doubling, so a big object costs O(n)). */
  private need = 12
  private count = -1

  constructor(
    private readonly storage: PackStorage,
    private readonly onProgress?: (done: number, total: number) => void,
  ) {}

  push(chunk: Buffer): void {
    this.storage.append(chunk)
    const both = this.held.length ? Buffer.concat([this.held, chunk]) : chunk
    this.hash.update(both.subarray(0, Math.max(0, both.length - 20)))
    this.held = Buffer.from(both.subarray(Math.max(0, both.length - 20)))
    this.pending.push(chunk)
    this.pendingLen += chunk.length
    if (this.pendingLen >= this.need) this.parse(false)
  }

  /** Verifies the envelope, resolves deltas (thin bases from readObject) and builds the idx. */
  async finish(readObject: ReadObject): Promise<Omit<IndexedPack, 'pack'>> {
    this.parse(true)
    const received = this.pos + this.pendingLen
    if (this.count < 0 || received < 32) throw new PackError(`not a pack (${received} bytes received)`)
    if (!this.hash.digest().equals(this.held))
      throw new PackError(`pack checksum mismatch (truncated or corrupt, ${received} bytes received)`)
    if (this.entries.length < this.count) throw new PackError(`pack holds ${this.entries.length} objects, header says ${this.count}`)
    if (this.pendingLen !== 20) throw new PackError(`${this.pendingLen - 20} unexpected bytes after the last object`)
    const resolver = new DeltaResolver(this.storage, this.entries, this.arena)
    resolver.resolveInPack()
    const appended = await appendMissingBases(resolver, readObject, received - 20)
    const unresolved = this.entries.find((e) => e.oid === undefined)
    if (unresolved) throw new PackError(`delta at offset ${unresolved.offset} has no base in the pack`)
    const checksum = appended.length
      ? this.storage.rewrite(received - 20, this.count + appended.length, appended.map((a) => a.bytes))
      : this.held
    const all = [...this.entries, ...appended.map((a) => a.entry)]
    return { idx: buildIdx(all, checksum), checksum: checksum.toString('hex'), oids: new Set(all.map((e) => e.oid!)), appended: appended.length }
  }

  /** Parses every complete object pending; keeps the rest for the next push. */
  private parse(eof: boolean): void {
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
    let p = 0
    if (this.count < 0) {
      if (buf.length < 12) return this.keep(buf, p, eof)
      p = this.readHeader(buf)
    }
    while (this.entries.length < this.count) {
      const next = this.parseObject(buf, p, eof)
      if (next < 0) break
      p = next
      const n = this.entries.length
      if (this.onProgress && (n === 1 || n % 1000 === 0 || n === this.count)) this.onProgress(n, this.count)
    }
    this.keep(buf, p, eof)
  }

  private keep(buf: Buffer, p: number, eof: boolean): void {
    const rest = buf.subarray(p)
    this.pos += p
    this.pending = rest.length ? [rest] : []
    this.pendingLen = rest.length
    const complete = this.count >= 0 && this.entries.length === this.count
    if (complete && rest.length > 20) throw new PackError(`${rest.length - 20} unexpected bytes after the last object`)
    if (eof && !complete && this.count >= 0 && rest.length > 20) throw new PackError(`pack object at offset ${this.pos} is cut short`)
    // Nothing parsed from what is left: wait until it has doubled before trying again (after the last object: the trailer).
    this.need = complete ? 21 : Math.max(rest.length * 2, 12)
  }

  private readHeader(buf: Buffer): number {
    if (buf.toString('latin1', 0, 4) !== 'PACK') throw new PackError(`not a pack (starts with ${JSON.stringify(buf.toString('latin1', 0, 8))})`)
    const version = buf.readUInt32BE(4)
    if (version !== 2 && version !== 3) throw new PackError(`unsupported pack version ${version}`)
    this.count = buf.readUInt32BE(8)
    return 12
  }

  /** One object at buf[p]: its end, or -1 when it is not all here yet. */
  private parseObject(buf: Buffer, p: number, eof: boolean): number {
    const offset = this.pos + p
    const start = p
    if (p >= buf.length) return -1
    let c = buf[p++]!
    const kind = (c >> 4) & 7
    let size = c & 15
    for (let shift = 4; c & 0x80; shift += 7) {
      if (p >= buf.length) return -1
      c = buf[p++]!
      size += (c & 0x7f) * 2 ** shift
    }
    const entry: Entry = { offset, dataStart: 0, end: 0, kind, size, crc: 0, delta: -1, deltaLen: 0 }
    if (kind === OFS_DELTA) {
      const base = readOfsBase(buf, p, offset)
      if (!base) return -1
      ;[entry.baseOffset, p] = [base[0], base[1]]
    } else if (kind === REF_DELTA) {
      if (p + 20 > buf.length) return -1
      ;[entry.baseOid, p] = [buf.toString('hex', p, p + 20), p + 20]
    } else if (!TYPES[kind]) throw new PackError(`bad object type ${kind} at offset ${offset}`)
    entry.dataStart = this.pos + p
    const inflated = inflateObject(buf.subarray(p), size, offset, eof)
    if (!inflated) return -1
    p += inflated.consumed
    entry.end = this.pos + p
    entry.crc = crc32(buf.subarray(start, p))
    // Whole objects are hashed now and inflated again only if something deltas against them.
    if (TYPES[kind]) nameObject(entry, TYPES[kind]!, inflated.data)
    else [entry.delta, entry.deltaLen] = [this.arena.add(inflated.data), inflated.data.length]
    this.entries.push(entry)
    return p
  }
}

/** Inflates one object's zlib stream; null when the input stops before the stream does (and more may come). */
function inflateObject(input: Buffer, size: number, offset: number, eof: boolean): Inflated | null {
  let res: Inflated | undefined
  let failed: unknown
  // The last object of every received chunk is cut off, and zlib says so by
  // throwing: without a stack to capture, that costs ~1 µs instead of ~45 µs.
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    res = inflateStream(input, size)
  } catch (err) {
    failed = err
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
  if (!res) {
    if ((failed as { code?: string }).code === 'Z_BUF_ERROR' && !eof) return null
    throw new PackError(`object at offset ${offset} does not inflate: ${(failed as Error).message}`)
  }
  if (res.data.length !== size) throw new PackError(`object at offset ${offset} has ${res.data.length} bytes, header says ${size}`)
  return res
}

/** The base offset of an OFS_DELTA and where its data starts, or null when the varint is cut off. */
function readOfsBase(buf: Buffer, p: number, offset: number): [number, number] | null {
  if (p >= buf.length) return null
  let c = buf[p++]!
  let ofs = c & 0x7f
  while (c & 0x80) {
    if (p >= buf.length) return null
    c = buf[p++]!
    ofs = (ofs + 1) * 128 + (c & 0x7f)
  }
  if (ofs <= 0 || ofs > offset) throw new PackError(`bad delta base offset at ${offset}`)
  return [offset - ofs, p]
}

function nameObject(entry: Entry, type: GitObjectType, data: Buffer): void {
  entry.type = type
  entry.oid = gitObjectId(type, data)
}

/** Header and bytes of a small object, hashed in one call: a hash object per object cost more than copying (~20 %). */
const hashScratch = Buffer.allocUnsafeSlow(64 * 1024)

function gitObjectId(type: GitObjectType, data: Buffer): string {
  const header = hashScratch.write(`${type} ${data.length}\0`, 0, 'latin1')
  if (header + data.length > hashScratch.length) return createHash('sha1').update(hashScratch.subarray(0, header)).update(data).digest('hex')
  data.copy(hashScratch, header)
  return hash('sha1', hashScratch.subarray(0, header + data.length), 'hex')
}

/** Resolves delta chains depth-first from each base, so only one chain's data is alive at a time. */
class DeltaResolver {
  private readonly ofsChildren = new Map<number, Entry[]>()
  readonly refChildren = new Map<string, Entry[]>()

  constructor(
    private readonly storage: PackStorage,
    private readonly entries: Entry[],
    private readonly arena: ByteArena,
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
      this.resolveChildren(e, inflateStream(this.storage.read(e.dataStart, e.end - e.dataStart), e.size).data)
    }
  }

  resolveChildren(base: Entry, baseData: Buffer): void {
    const children = [...(this.ofsChildren.get(base.offset) ?? []), ...(this.refChildren.get(base.oid!) ?? [])]
    this.refChildren.delete(base.oid!)
    for (const child of children) {
      const data = applyDelta(baseData, this.arena.get(child.delta, child.deltaLen), child.offset)
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
    // Copied still deflated where the cache has it whole (all 39 bases of a bench bump were):
    // deflateSync builds an engine per call, which was most of completing that thin pack.
    // The store inflated those very bytes, so the name checked below is theirs.
    const whole = readObject.whole?.(oid) ?? null
    const obj = whole ?? (await readObject(oid))
    if (!obj) throw new PackError(`thin pack needs base object ${oid}, which the cache lacks`)
    const bytes = Buffer.concat([encodeHeader(KIND_OF[obj.type], obj.data.length), whole ? whole.deflated : deflateSync(obj.data)])
    const entry: Entry = { offset, dataStart: 0, end: offset + bytes.length, kind: KIND_OF[obj.type], size: obj.data.length, crc: crc32(bytes), delta: -1, deltaLen: 0 }
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
  // Not from node's shared 8 KiB pool: a cached delta base would keep its whole slab alive.
  const out = Buffer.allocUnsafeSlow(varint())
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
