import { readdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isOlmError } from '../../src/errors.js'
import { acquireLock } from '../../src/repo/lock.js'
import { testDir } from '../helpers/tmp.js'

const opts = (waitMs: number) => ({ command: 'test', waitMs, now: () => new Date() })

describe('the lock file', () => {
  it('appears whole: no temp file stays behind, and a second taker waits and says who holds it', async () => {
    const dir = await testDir()
    const first = await acquireLock(dir, opts(0))
    expect((await readdir(dir)).sort()).toEqual(['lock'])
    // Another process's view: the in-process re-entrancy does not apply across processes, so look at the file.
    const holder = JSON.parse(await (await import('node:fs/promises')).readFile(path.join(dir, 'lock'), 'utf8'))
    expect(holder).toMatchObject({ pid: process.pid, command: 'test' })
    await first.release()
    expect(await readdir(dir)).toEqual([])
  })

  it('takes over an empty lock left by a run killed while creating it, once it is old', async () => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'lock'), '')
    const old = new Date(Date.now() - 60_000)
    await utimes(path.join(dir, 'lock'), old, old)
    const lock = await acquireLock(dir, opts(2_000))
    await lock.release()
  })

  it('does not take over an empty lock that was just created (its writer may be mid-write)', async () => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'lock'), '')
    await expect(acquireLock(dir, opts(300))).rejects.toSatisfy((e) => isOlmError(e, 'LOCKED'))
  })

  it('takes over a dead holder of its own pid namespace, not one of another (a container sharing the directory)', async () => {
    const dir = await testDir()
    const ours = await readlink('/proc/self/ns/pid')
    const dead = { pid: 999_999_999, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z' }
    await writeFile(path.join(dir, 'lock'), JSON.stringify({ ...dead, pidns: 'pid:[1]' }) + '\n')
    await expect(acquireLock(dir, opts(300))).rejects.toSatisfy(
      (e) => isOlmError(e, 'LOCKED') && /pid 999999999 on .* holds .*; olm cannot see that process from here: if it no longer runs, remove the file$/.test(e.message),
    )
    await writeFile(path.join(dir, 'lock'), JSON.stringify({ ...dead, pidns: ours }) + '\n')
    const lock = await acquireLock(dir, opts(2_000))
    expect(JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, pidns: ours })
    await lock.release()
  })

  it('removes temp files of dead runs', async () => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'lock.999999.new'), '{}')
    const lock = await acquireLock(dir, opts(0))
    expect((await readdir(dir)).sort()).toEqual(['lock'])
    await lock.release()
  })
})
