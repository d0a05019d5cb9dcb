import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { applyDelta, indexPack, PackError } from '../../src/overlay/git-pack.js'
import { git, makeBareRepo, type TreeSpec } from '../helpers/bare-repo.js'
import { testDir } from '../helpers/tmp.js'

/** Similar files, so `git repack` stores most of them as deltas (OFS_DELTA chains). */
function similarTree(): TreeSpec {
  const tree: TreeSpec = {}
  const body = Array.from({ length: 200 }, (_, i) => `line ${i} of a shared ebuild body`).join('\n')
  for (let i = 0; i < 60; i++) tree[`cat/p${i}/p${i}-1.ebuild`] = `${body}\n# package ${i}\n`
  return tree
}

async function repackedPack(): Promise<{ pack: Buffer; idx: Buffer; objects: number }> {
  const repoDir = path.join(await testDir(), 'r.git')
  await makeBareRepo(similarTree(), repoDir)
  await git(['-C', repoDir, 'repack', '-a', '-d', '-q', '-f'])
  const packDir = path.join(repoDir, 'objects/pack')
  const name = (await readdir(packDir)).find((n) => n.endsWith('.pack'))!
  const pack = await readFile(path.join(packDir, name))
  const idx = await readFile(path.join(packDir, name.replace(/\.pack$/, '.idx')))
  const verify = await git(['verify-pack', '-v', path.join(packDir, name)])
  const lines = verify.split('\n').filter((l) => /^[0-9a-f]{40} /.test(l))
  expect(lines.filter((l) => / [0-9a-f]{40}$/.test(l)).length).toBeGreaterThan(30) // deltas, not whole objects
  return { pack, idx, objects: lines.length }
}

describe('indexPack', () => {
  it('indexes a deltified pack byte-identically to native git index-pack', async () => {
    const { pack, idx, objects } = await repackedPack()
    const res = await indexPack(pack, async () => null)
    expect(res.oids.size).toBe(objects)
    expect(res.appended).toBe(0)
    expect(res.pack).toBe(pack)
    expect(res.idx.equals(idx)).toBe(true)
  })

  it.each([
    ['a truncated pack', (p: Buffer) => p.subarray(0, p.length - 100)],
    ['a flipped byte', (p: Buffer) => Buffer.concat([p.subarray(0, 200), Buffer.from([p[200]! ^ 1]), p.subarray(201)])],
    ['no pack at all', () => Buffer.from('0008NAK\n')],
  ])('rejects %s', async (_, damage) => {
    const { pack } = await repackedPack()
    await expect(indexPack(damage(pack), async () => null)).rejects.toBeInstanceOf(PackError)
  })

  it.each([
    ['copy then insert', Buffer.from('hello world'), Buffer.from([11, 8, 0x91, 0, 5, 3, 0x21, 0x21, 0x21]), 'hello!!!'],
    ['insert only', Buffer.from('abc'), Buffer.from([3, 2, 2, 0x78, 0x79]), 'xy'],
  ])('applyDelta: %s', (_, base, delta, want) => {
    expect(applyDelta(base, delta).toString()).toBe(want)
  })

  it.each([
    ['wrong base size', Buffer.from([9, 1, 1, 0x41])],
    ['copy past the base', Buffer.from([3, 4, 0x91, 0, 4])],
    ['reserved opcode', Buffer.from([3, 1, 0])],
  ])('applyDelta rejects %s', (_, delta) => {
    expect(() => applyDelta(Buffer.from('abc'), delta)).toThrow(PackError)
  })
})
