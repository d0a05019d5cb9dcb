import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { inflateSync } from 'node:zlib'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openObjectStore } from '../../src/overlay/git-objects.js'
import { openGitTree } from '../../src/overlay/git-tree.js'
import { testDir } from '../helpers/tmp.js'

const git = (args: string[], input?: string | Buffer) => execFileSync('git', args, { input, env: { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' } }).toString().trim()

/** The store reads objects with a bounded first read; these are the shapes that do not fit it. */
describe('object store', () => {
  it('reads what native git packed: large, incompressible and deltified objects', async () => {
    const repo = path.join(await testDir(), 'r.git')
    git(['init', '-q', '--bare', repo])
    const text = Array.from({ length: 4000 }, (_, i) => `line ${i} of a long ebuild-like file\n`).join('')
    const blobs = [
      Buffer.from('small\n'),
      randomBytes(200_000), // incompressible: its deflate stream is longer than the object
      Buffer.from(text), // larger than one read
      Buffer.from(text.replace('line 7 ', 'line seven ')), // git stores it as a delta of the previous
    ]
    const oids = blobs.map((b) => git(['--git-dir', repo, 'hash-object', '-w', '--stdin'], b))
    // Packed by name (repack would leave these unreferenced blobs loose), the loose copies removed.
    git(['--git-dir', repo, 'pack-objects', '-q', path.join(repo, 'objects/pack/pack')], oids.join('\n') + '\n')
    git(['--git-dir', repo, 'prune-packed'])
    const store = openObjectStore(repo)
    try {
      blobs.forEach((b, i) => expect(store.read(oids[i]!)).toEqual({ type: 'blob', data: b }))
      // As packed, for a thin pack's completion to copy: the whole ones with their exact stream, the delta not.
      const whole = oids.map((oid) => store.wholeObject(oid!))
      expect(whole.filter((w) => w === null)).toHaveLength(1) // one of the two texts is a delta of the other
      whole.forEach((w, i) => w && expect([w.type, w.data, inflateSync(w.deflated)]).toEqual(['blob', blobs[i], blobs[i]]))
    } finally {
      store.close()
    }
  })

  it('finds an object whole in one pack when another holds it as a delta', async () => {
    const repo = path.join(await testDir(), 'r.git')
    git(['init', '-q', '--bare', repo])
    const text = Array.from({ length: 2000 }, (_, i) => `line ${i} of a long ebuild-like file\n`).join('')
    const [base, x] = [text + 'and more at the end\n', text].map((t) => git(['--git-dir', repo, 'hash-object', '-w', '--stdin'], t))
    // git deltas the smaller against the larger: in the first pack, x is a delta; the second holds x alone, whole
    const packs = [[base, x], [x]].map((oids) => git(['--git-dir', repo, 'pack-objects', '-q', path.join(repo, 'objects/pack/pack')], oids.join('\n') + '\n'))
    git(['--git-dir', repo, 'prune-packed'])
    const verify = git(['--git-dir', repo, 'verify-pack', '-v', path.join(repo, `objects/pack/pack-${packs[0]}.idx`)])
    expect(verify).toMatch(new RegExp(`^${x} blob +\\d+ \\d+ \\d+ 1 ${base}$`, 'm'))
    // The store tries packs in name order: the one with the delta first.
    for (const [i, name] of [packs[0], packs[1]].entries())
      for (const ext of ['pack', 'idx']) await rename(path.join(repo, `objects/pack/pack-${name}.${ext}`), path.join(repo, `objects/pack/pack-${String(i).repeat(40)}.${ext}`))
    const store = openObjectStore(repo)
    try {
      const whole = store.wholeObject(x!)
      expect([whole?.type, whole?.data.toString(), inflateSync(whole!.deflated).toString()]).toEqual(['blob', text, text])
    } finally {
      store.close()
    }
  })

  it('reads an object whose deflate stream is longer than zlib would write it', async () => {
    const repo = path.join(await testDir(), 'r.git')
    git(['init', '-q', '--bare', repo])
    const content = Buffer.from('a blob written by another encoder\n')
    // A valid zlib stream padded with 200 empty stored blocks: far beyond zlib's deflate bound.
    const adler = adler32(content)
    const stored = Buffer.concat([Buffer.from([0x01, content.length & 0xff, content.length >> 8, ~content.length & 0xff, (~content.length >> 8) & 0xff]), content])
    const stream = Buffer.concat([Buffer.from([0x78, 0x01]), ...Array.from({ length: 200 }, () => Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])), stored, adler])
    const header = objectHeader(3, content.length)
    const body = Buffer.concat([Buffer.from('PACK'), u32(2), u32(1), header, stream])
    const checksum = createHash('sha1').update(body).digest()
    const pack = Buffer.concat([body, checksum])
    const packDir = path.join(repo, 'objects/pack')
    await mkdir(packDir, { recursive: true })
    const packFile = path.join(packDir, `pack-${checksum.toString('hex')}.pack`)
    await writeFile(packFile, pack)
    git(['--git-dir', repo, 'index-pack', packFile]) // native git accepts it, and writes the .idx
    const oid = git(['--git-dir', repo, 'hash-object', '--stdin'], content)
    const store = openObjectStore(repo)
    try {
      expect(store.read(oid)).toEqual({ type: 'blob', data: content })
      // the whole stream, padding and all, up to its end: nothing of the trailer or beyond
      expect(store.wholeObject(oid)).toEqual({ type: 'blob', data: content, deflated: stream })
    } finally {
      store.close()
    }
  })
})

describe('a git tree that names an entry twice (no git writes one; a hostile server can)', () => {
  it('reads the same entry its listing gives: what a file holds and its id agree', async () => {
    const repo = path.join(await testDir(), 'r.git')
    git(['init', '-q', '--bare', repo])
    const [first, second] = ['first\n', 'second\n'].map((text) => git(['--git-dir', repo, 'hash-object', '-w', '--stdin'], text))
    const entry = (oid: string) => Buffer.concat([Buffer.from('100644 x\0'), Buffer.from(oid, 'hex')])
    const tree = git(['--git-dir', repo, 'hash-object', '-w', '--literally', '-t', 'tree', '--stdin'], Buffer.concat([entry(first!), entry(second!)]))
    const commit = git(['-c', 'user.name=t', '-c', 'user.email=t@example.org', '--git-dir', repo, 'commit-tree', tree, '-m', 'twice'])
    const opened = await openGitTree(repo, 'hostile', commit)
    // The witness logs a file by the id its listing gives; the copy must be of those bytes.
    expect((await opened.entry('x'))?.id).toBe(`git:${second}`)
    expect((await opened.readFile('x'))?.toString()).toBe('second\n')
  })
})

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function objectHeader(type: number, size: number): Buffer {
  const bytes = [(type << 4) | (size & 15)]
  for (size >>= 4; size > 0; size >>= 7) {
    bytes[bytes.length - 1]! |= 0x80
    bytes.push(size & 0x7f)
  }
  return Buffer.from(bytes)
}

function adler32(data: Buffer): Buffer {
  let a = 1
  let b = 0
  for (const byte of data) {
    a = (a + byte) % 65521
    b = (b + a) % 65521
  }
  return u32(((b << 16) | a) >>> 0)
}
