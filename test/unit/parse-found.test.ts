import { execFileSync } from 'node:child_process'
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises'
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
    expect(found).toEqual(
      new Map([
        ['cat', { type: 'd', size: expect.any(Number), mode: 0o755 }],
        ['cat/pkg', { type: 'd', size: expect.any(Number), mode: 0o755 }],
        ['cat/pkg/files', { type: 'd', size: expect.any(Number), mode: 0o755 }],
        ['cat/pkg/files/a name with spaces', { type: 'f', size: 3, mode: 0o644 }],
        ['cat/pkg/files/new\nline', { type: 'f', size: 0, mode: 0o644 }],
        ['cat/pkg/run.sh', { type: 'f', size: 10, mode: 0o755 }],
        ['cat/pkg/link', { type: 'l', size: 6, mode: 0o777 }],
      ]),
    )
    expect(execFileSync('find', ['--version']).toString()).toContain('GNU')
  })

  it('leaves out what is no record', () => {
    const found = parseFound(['f 12 644 good', 'f x 644 bad-size', 'f 12 648 bad-mode', 'f 12 644 ', 'ff 12 644 two-letter-type', ' 12 644 no-type', 'f 12 644', ''].join('\0'))
    expect([...found.keys()]).toEqual(['good'])
  })
})
