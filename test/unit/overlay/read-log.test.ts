import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openDirTree } from '../../../src/overlay/dir-tree.js'
import { encodeReads, loggingTree, OverlayReadLog, overlayReadsUnchanged } from '../../../src/overlay/read-log.js'
import { testDir } from '../../helpers/tmp.js'

async function overlayWithReads() {
  const dir = await testDir()
  for (const [rel, text] of [['app-misc/foo/foo-1.ebuild', 'EAPI=8\n'], ['dev-libs/bar/bar-1.ebuild', 'EAPI=8\n'], ['eclass/x.eclass', '# x\n']]) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
    await writeFile(path.join(dir, rel), text)
  }
  const log = new OverlayReadLog()
  const tree = loggingTree(openDirTree(dir, 'ov', 'c1'), log)
  await tree.readDir('app-misc/foo')
  await tree.readDir('dev-libs/bar')
  await tree.entry('eclass/x.eclass')
  await tree.readLink('app-misc/foo/foo-1.ebuild')
  return { dir, encoded: encodeReads(log.reads()) }
}

type Index = [string, number, number][]

/** The same bytes under another index line. */
function reindex(encoded: Buffer, change: (index: Index) => Index): Buffer {
  const nl = encoded.indexOf(10)
  const index = JSON.parse(encoded.toString('utf8', 0, nl)) as Index
  return Buffer.concat([Buffer.from(JSON.stringify(change(index)) + '\n'), encoded.subarray(nl + 1)])
}

describe('overlay reads as a witness keeps them', () => {
  it('say unchanged for the same tree, and changed when a listed directory gains a file', async () => {
    const { dir, encoded } = await overlayWithReads()
    expect(await overlayReadsUnchanged(openDirTree(dir, 'ov', 'c2'), encoded)).toBe(true)
    await writeFile(path.join(dir, 'dev-libs/bar/bar-2.ebuild'), 'EAPI=8\n')
    expect(await overlayReadsUnchanged(openDirTree(dir, 'ov', 'c3'), encoded)).toBe(false)
  })

  it('are indexed by top-level directory, each group decoded on its own', async () => {
    const { encoded } = await overlayWithReads()
    const index = JSON.parse(encoded.toString('utf8', 0, encoded.indexOf(10))) as [string, number, number][]
    expect(index.map(([top]) => top)).toEqual(['app-misc', 'dev-libs', 'eclass'])
    const body = encoded.subarray(encoded.indexOf(10) + 1)
    expect(JSON.parse(body.toString('utf8', index[1]![1], index[1]![2]))).toEqual([['dir', 'dev-libs/bar', expect.any(String)]])
  })

  it.each([
    ['no index line', (b: Buffer) => Buffer.from(b.toString('utf8').replace('\n', ' '))],
    ['an index past the end', (b: Buffer) => b.subarray(0, b.length - 5)],
    ['an index that is no list', (b: Buffer) => Buffer.concat([Buffer.from('{}\n'), b.subarray(b.indexOf(10) + 1)])],
    ['an empty index before reads', (b: Buffer) => Buffer.concat([Buffer.from('[]\n'), b.subarray(b.indexOf(10) + 1)])],
    ['an index without its last group', (b: Buffer) => reindex(b, (index) => index.slice(0, -1))],
    ['an index without a group in the middle', (b: Buffer) => reindex(b, (index) => [index[0]!, index[2]!])],
    ['a group named twice', (b: Buffer) => reindex(b, (index) => index.map(([top, start, end], i) => [i === 1 ? index[0]![0] : top, start, end]))],
    ['a group named as a path', (b: Buffer) => reindex(b, (index) => index.map(([top, start, end], i) => [i === 1 ? 'dev-libs/bar' : top, start, end]))],
  ])('are refused when damaged: %s', async (_, damage) => {
    const { dir, encoded } = await overlayWithReads()
    await expect(overlayReadsUnchanged(openDirTree(dir, 'ov', 'c2'), damage(encoded))).rejects.toThrow()
  })
})
