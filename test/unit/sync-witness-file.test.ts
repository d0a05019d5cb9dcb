import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { moveWitness, readWitness, writeWitness } from '../../src/core/sync-witness.js'
import { testDir } from '../helpers/tmp.js'

const outcome = { packages: 1, requested: 1, eclasses: 0, licenses: 0, unsatisfied: [], warnings: [] }
const witness = (commits: [string, string]) => ({
  inputs: 'digest-of-inputs',
  generation: 'g-0123',
  reads: [],
  overlays: {
    guru: { commit: commits[0], reads: Buffer.from('[["guru-reads",0,2]]\n[]') },
    tenstorrent: { commit: commits[1], reads: Buffer.from('[["tt-reads",0,2]]\n[]') },
  },
  outcome,
})

describe('the sync witness file', () => {
  it('names newer commits in place, the reads left as they were', async () => {
    const dir = await testDir()
    await writeWitness(dir, witness(['a'.repeat(40), 'b'.repeat(40)]))
    const file = path.join(dir, 'sync-witness.json')
    const before = { ino: (await stat(file)).ino, bytes: await readFile(file) }
    await moveWitness(dir, (await readWitness(dir))!, { guru: 'c'.repeat(40) })
    const after = await readWitness(dir)
    expect(after?.overlays.guru?.commit).toBe('c'.repeat(40))
    expect(after?.overlays.tenstorrent?.commit).toBe('b'.repeat(40))
    expect(after?.overlays.tenstorrent?.reads?.toString()).toBe('[["tt-reads",0,2]]\n[]')
    expect((await stat(file)).ino).toBe(before.ino) // written over, not replaced
    const bytes = await readFile(file)
    expect(bytes.subarray(bytes.indexOf(10))).toEqual(before.bytes.subarray(before.bytes.indexOf(10)))
  })

  it('is written anew when the header changes its length', async () => {
    const dir = await testDir()
    await writeWitness(dir, witness(['a'.repeat(40), 'b'.repeat(40)]))
    await moveWitness(dir, (await readWitness(dir))!, { guru: 'd'.repeat(64) })
    const after = await readWitness(dir)
    expect(after?.overlays.guru?.commit).toBe('d'.repeat(64))
    expect(after?.overlays.guru?.reads?.toString()).toBe('[["guru-reads",0,2]]\n[]')
  })
})
