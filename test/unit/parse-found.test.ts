import { execFileSync } from 'node:child_process'
import { chmod, lstat, mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseFound, systemCloneTools } from '../../src/repo/clone-generation.js'
import { testDir } from '../helpers/tmp.js'

describe('parseFound', () => {
  // Without GNU find olm writes file by file, and this parser is not used.
  it.skipIf(!systemCloneTools())('reads what GNU find prints of a generation, odd names included', async () => {
    const dir = await testDir()
    await mkdir(path.join(dir, 'cat/pkg/files'), { recursive: true })
    await writeFile(path.join(dir, 'cat/pkg/files/a name with spaces'), 'abc')
    await writeFile(path.join(dir, 'cat/pkg/files/new\nline'), '')
    await writeFile(path.join(dir, 'cat/pkg/run.sh'), '#!/bin/sh\n', { mode: 0o755 })
    await symlink('run.sh', path.join(dir, 'cat/pkg/link'))
    // whatever the umask
    for (const d of ['cat', 'cat/pkg', 'cat/pkg/files']) await chmod(path.join(dir, d), 0o755)
    for (const f of ['cat/pkg/files/a name with spaces', 'cat/pkg/files/new\nline']) await chmod(path.join(dir, f), 0o644)
    await chmod(path.join(dir, 'cat/pkg/run.sh'), 0o755)
    const found = await systemCloneTools()!.list(dir)
    // as node says it: the same ns an edit in place would change
    const mtimeOf = async (rel: string) => (await lstat(path.join(dir, rel), { bigint: true })).mtimeNs.toString()
    expect(found).toEqual(
      new Map([
        ['cat', { type: 'd', size: expect.any(Number), mode: 0o755, mtime: expect.stringMatching(/^\d+$/) }],
        ['cat/pkg', { type: 'd', size: expect.any(Number), mode: 0o755, mtime: expect.stringMatching(/^\d+$/) }],
        ['cat/pkg/files', { type: 'd', size: expect.any(Number), mode: 0o755, mtime: expect.stringMatching(/^\d+$/) }],
        ['cat/pkg/files/a name with spaces', { type: 'f', size: 3, mode: 0o644, mtime: await mtimeOf('cat/pkg/files/a name with spaces') }],
        ['cat/pkg/files/new\nline', { type: 'f', size: 0, mode: 0o644, mtime: await mtimeOf('cat/pkg/files/new\nline') }],
        ['cat/pkg/run.sh', { type: 'f', size: 10, mode: 0o755, mtime: await mtimeOf('cat/pkg/run.sh') }],
        ['cat/pkg/link', { type: 'l', size: 6, mode: 0o777, mtime: await mtimeOf('cat/pkg/link') }],
      ]),
    )
    expect(execFileSync('find', ['--version']).toString()).toContain('GNU')
  })

  it('leaves out what is no record', () => {
    const t = '1795985026.4287177280'
    const found = parseFound(
      [`f 12 644 ${t} good`, `f x 644 ${t} bad-size`, `f 12 648 ${t} bad-mode`, `f 12 644 ${t} `, `ff 12 644 ${t} two-letter-type`, ` 12 644 ${t} no-type`, `f 12 644 ${t}`, 'f 12 644 17x5.1 bad-time', 'f 12 644 no-time', ''].join('\0'),
    )
    // a time that is no number (find prints one before 1970 wrongly) is kept as one nothing matches
    expect([...found.keys()]).toEqual(['good', 'bad-time'])
    expect(found.get('good')!.mtime).toBe('1795985026428717728')
    expect(found.get('bad-time')!.mtime).toBe('')
  })

  it.each([
    ['1795985026.4287177280', '1795985026428717728'],
    ['1795985026.5', '1795985026500000000'],
    ['1795985026', '1795985026000000000'],
    ['0.000000001', '1'],
  ])('reads the mtime %s as %s ns', (t, ns) => {
    expect(parseFound(`f 1 644 ${t} x`).get('x')!.mtime).toBe(ns)
  })
})
