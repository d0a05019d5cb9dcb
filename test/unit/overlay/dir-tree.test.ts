import { execFileSync } from 'node:child_process'
import { chmod, mkdir, rename, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { OlmError } from '../../../src/errors.js'
import { digestDir, openDirTree } from '../../../src/overlay/dir-tree.js'
import { testDir } from '../../helpers/tmp.js'

/** A small overlay with one of each kind of entry, plus a link pointing out of it. */
async function sampleOverlay(): Promise<string> {
  const base = await testDir()
  const root = path.join(base, 'ov')
  await mkdir(path.join(root, 'app-misc/foo/files'), { recursive: true })
  await writeFile(path.join(base, 'secret'), 'outside\n')
  await writeFile(path.join(root, 'app-misc/foo/foo-1.ebuild'), 'EAPI=8\n')
  await writeFile(path.join(root, 'app-misc/foo/files/run.sh'), '#!/bin/sh\n')
  await chmod(path.join(root, 'app-misc/foo/files/run.sh'), 0o755)
  await symlink('run.sh', path.join(root, 'app-misc/foo/files/alias'))
  await symlink('../../..', path.join(root, 'app-misc/foo/up'))
  await symlink(path.join(base, 'secret'), path.join(root, 'app-misc/foo/secret'))
  execFileSync('mkfifo', [path.join(root, 'app-misc/foo/pipe')])
  return root
}

describe('openDirTree', () => {
  it('lists entries sorted, with types and the executable bit, never following links', async () => {
    const tree = openDirTree(await sampleOverlay(), 'ov', 'c0ffee')
    expect(tree.overlay).toBe('ov')
    expect(tree.commit).toBe('c0ffee')
    expect(await tree.readDir('app-misc/foo')).toEqual([
      { name: 'files', type: 'dir', executable: false },
      { name: 'foo-1.ebuild', type: 'file', executable: false },
      { name: 'pipe', type: 'other', executable: false },
      { name: 'secret', type: 'symlink', executable: false },
      { name: 'up', type: 'symlink', executable: false },
    ])
    expect(await tree.readDir('app-misc/foo/files')).toEqual([
      { name: 'alias', type: 'symlink', executable: false },
      { name: 'run.sh', type: 'file', executable: true },
    ])
  })

  it.each([
    ['app-misc/foo/foo-1.ebuild', 'EAPI=8\n'],
    ['./app-misc//foo/foo-1.ebuild', 'EAPI=8\n'],
    ['app-misc/foo/secret', null],
    ['app-misc/foo/files/alias', null],
    ['app-misc/foo/up/secret', null],
    ['app-misc/foo/pipe', null],
    ['app-misc/foo', null],
    ['app-misc/nope', null],
    ['app-misc/foo/foo-1.ebuild/x', null],
  ])('readFile(%j)', async (relPath, expected) => {
    const tree = openDirTree(await sampleOverlay(), 'ov', 'c')
    const buf = await tree.readFile(relPath)
    expect(buf === null ? null : buf.toString()).toBe(expected)
  })

  it.each([
    ['app-misc/foo/files/alias', 'run.sh'],
    ['app-misc/foo/up', '../../..'],
    ['app-misc/foo/foo-1.ebuild', null],
    ['app-misc/foo/up/ov', null],
  ])('readLink(%j)', async (relPath, expected) => {
    const tree = openDirTree(await sampleOverlay(), 'ov', 'c')
    expect(await tree.readLink(relPath)).toBe(expected)
  })

  it.each([['app-misc/foo/up'], ['app-misc/foo/up/ov'], ['app-misc/foo/foo-1.ebuild'], ['nope']])('readDir(%j) is null', async (relPath) => {
    const tree = openDirTree(await sampleOverlay(), 'ov', 'c')
    expect(await tree.readDir(relPath)).toBeNull()
  })

  it.each([['..'], ['../secret'], ['app-misc/../../secret'], ['/etc/passwd'], ['a\0b']])('refuses %j with UNSAFE_PATH', async (relPath) => {
    const tree = openDirTree(await sampleOverlay(), 'ov', 'c')
    for (const read of [tree.readFile, tree.readDir, tree.readLink]) {
      const err = await read(relPath).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OlmError)
      expect((err as OlmError).code).toBe('UNSAFE_PATH')
      expect((err as OlmError).context.overlay).toBe('ov')
    }
  })
})

describe('digestDir', () => {
  async function twoCopies(): Promise<[string, string]> {
    const dirs: string[] = []
    for (const _ of [1, 2]) {
      const root = path.join(await testDir(), 'ov')
      await mkdir(path.join(root, 'a/b'), { recursive: true })
      await writeFile(path.join(root, 'a/b/f'), 'x')
      await writeFile(path.join(root, 'top'), 'y')
      await symlink('b/f', path.join(root, 'a/l'))
      dirs.push(root)
    }
    return dirs as [string, string]
  }

  it('is a stable hex sha256 that ignores location and non-executable mode bits', async () => {
    const [a, b] = await twoCopies()
    await chmod(path.join(b, 'top'), 0o600)
    expect(await digestDir(a)).toMatch(/^[0-9a-f]{64}$/)
    expect(await digestDir(a)).toBe(await digestDir(b))
  })

  it.each([
    ['file content', (d: string) => writeFile(path.join(d, 'a/b/f'), 'z')],
    ['executable bit', (d: string) => chmod(path.join(d, 'top'), 0o755)],
    ['renamed file', (d: string) => rename(path.join(d, 'top'), path.join(d, 'top2'))],
    ['link target', async (d: string) => {
      await rename(path.join(d, 'a/l'), path.join(d, 'a/l.old'))
      await symlink('b', path.join(d, 'a/l'))
    }],
    ['empty directory', (d: string) => mkdir(path.join(d, 'a/empty'))],
    ['file moved into a directory', (d: string) => rename(path.join(d, 'top'), path.join(d, 'a/top'))],
  ])('changes with %s', async (_name, change) => {
    const [a, b] = await twoCopies()
    await change(b)
    expect(await digestDir(a)).not.toBe(await digestDir(b))
  })
})
