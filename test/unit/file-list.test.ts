import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { placeFileList, readFileList, writeFileList } from '../../src/repo/file-list.js'
import { systemFs } from '../../src/repo/publish.js'
import { testDir } from '../helpers/tmp.js'

describe('a generation file list', () => {
  it('reads back what was written, paths with spaces included', async () => {
    const dir = await testDir()
    const files = new Map([
      ['cat/pkg/pkg-1.ebuild', { id: 'git:0123abcd', size: 120, executable: false, mtime: '1795985026428717728' }],
      ['cat/pkg/files/run me.sh', { id: 'sha256:ffee', size: 0, executable: true, mtime: '1795985026000000000' }],
    ])
    await writeFileList(dir, 'g-one', files, systemFs)
    // written beside its name, in place only when placed (once the generation is durable)
    expect(await readFileList(dir, 'g-one', systemFs)).toBeNull()
    await placeFileList(dir, 'g-one', systemFs)
    expect(await readFileList(dir, 'g-one', systemFs)).toEqual({ files, durable: true })
  })

  it('reads a list an older olm wrote (no first line), as one not known durable', async () => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'g-one.files'), 'git:01 12 x cat/pkg/x\n')
    expect(await readFileList(dir, 'g-one', systemFs)).toEqual({ files: new Map([['cat/pkg/x', { id: 'git:01', size: 12, executable: true }]]), durable: false })
  })

  it.each([
    ['no size', 'git:01 - cat/pkg/x\n'],
    ['a size that is no number', 'git:01 12a - cat/pkg/x\n'],
    ['no mode flag', 'git:01 12 cat/pkg/x\n'],
    ['a flag of two characters', 'git:01 12 xx cat/pkg/x\n'],
    ['no path', 'git:01 12 x \n'],
    ['no id', ' 12 x cat/pkg/x\n'],
    ['one good line and one bad', 'git:01 12 x cat/pkg/x\ngarbage\n'],
    ['the first line and no mtime', 'olm file list 2\ngit:01 12 x cat/pkg/x\n'],
    ['the first line and an mtime that is no number', 'olm file list 2\ngit:01 12 x 17959850x6 cat/pkg/x\n'],
  ])('is no list with %s', async (_, text) => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'g-one.files'), text)
    expect(await readFileList(dir, 'g-one', systemFs)).toBeNull()
  })

  it('is null when missing', async () => {
    expect(await readFileList(await testDir(), 'g-none', systemFs)).toBeNull()
  })
})
