import { createHash } from 'node:crypto'
import fs from 'node:fs'

/**
 * Where a pack's bytes live while it is indexed. A fetch streams them to a
 * file as they arrive (memory stays near one object, not the pack); tests
 * index a pack already in memory. Sync I/O: each call is one short pwrite or
 * pread of a local file.
 */
export interface PackStorage {
  append(chunk: Buffer): void
  read(offset: number, length: number): Buffer
  /**
   * Completes a thin pack: writes `tail` from `at` (over the old trailer),
   * the object count at byte 8, and a new SHA-1 trailer, which it returns.
   */
  rewrite(at: number, count: number, tail: Buffer[]): Buffer
}

export class BufferStorage implements PackStorage {
  private chunks: Buffer[] = []
  private whole: Buffer | undefined

  /** The pack; the very buffer given when it arrived in one piece and needed no rewrite. */
  bytes(): Buffer {
    if (!this.whole) {
      this.whole = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
      this.chunks = [this.whole]
    }
    return this.whole
  }

  append(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.whole = undefined
  }

  read(offset: number, length: number): Buffer {
    return this.bytes().subarray(offset, offset + length)
  }

  rewrite(at: number, count: number, tail: Buffer[]): Buffer {
    const body = Buffer.concat([this.bytes().subarray(0, at), ...tail])
    body.writeUInt32BE(count, 8)
    const sum = createHash('sha1').update(body).digest()
    this.whole = Buffer.concat([body, sum])
    this.chunks = [this.whole]
    return sum
  }
}

export class FileStorage implements PackStorage {
  private readonly fd: number
  private size = 0

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'wx+', 0o444)
  }

  append(chunk: Buffer): void {
    fs.writeSync(this.fd, chunk, 0, chunk.length, this.size)
    this.size += chunk.length
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    const got = fs.readSync(this.fd, out, 0, length, offset)
    if (got !== length) throw new Error(`short read of ${this.file} at ${offset}`)
    return out
  }

  rewrite(at: number, count: number, tail: Buffer[]): Buffer {
    let end = at
    for (const t of tail) end += fs.writeSync(this.fd, t, 0, t.length, end)
    const header = Buffer.alloc(4)
    header.writeUInt32BE(count)
    fs.writeSync(this.fd, header, 0, 4, 8)
    const hash = createHash('sha1')
    const block = Buffer.allocUnsafe(1 << 20)
    for (let p = 0; p < end; ) {
      const n = fs.readSync(this.fd, block, 0, Math.min(block.length, end - p), p)
      hash.update(block.subarray(0, n))
      p += n
    }
    const sum = hash.digest()
    fs.writeSync(this.fd, sum, 0, 20, end)
    fs.ftruncateSync(this.fd, end + 20)
    this.size = end + 20
    return sum
  }

  /** Closes (flushed to disk first when `sync`); the file stays for the caller to rename or remove. */
  close(sync: boolean): void {
    if (sync) fs.fsyncSync(this.fd)
    fs.closeSync(this.fd)
  }
}

const BLOCK = 1 << 20
const SLOT = 2 ** 21

/**
 * Many small byte strings (a pack's delta instructions) in 1 MiB blocks, named
 * by a number: tens of thousands of separate Buffers would cost more in
 * per-object overhead than in bytes.
 */
export class ByteArena {
  private readonly blocks: Buffer[] = []
  private used = BLOCK

  add(bytes: Buffer): number {
    if (bytes.length > BLOCK / 4) {
      this.blocks.push(Buffer.from(bytes))
      this.used = BLOCK // the next small one starts a fresh block
      return (this.blocks.length - 1) * SLOT
    }
    if (this.used + bytes.length > BLOCK) {
      this.blocks.push(Buffer.allocUnsafe(BLOCK))
      this.used = 0
    }
    const at = this.used
    this.used += bytes.copy(this.blocks[this.blocks.length - 1]!, at)
    return (this.blocks.length - 1) * SLOT + at
  }

  get(ref: number, length: number): Buffer {
    const start = ref % SLOT
    return this.blocks[Math.floor(ref / SLOT)]!.subarray(start, start + length)
  }
}
