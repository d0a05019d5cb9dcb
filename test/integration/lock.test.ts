import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readlinkSync } from 'node:fs'
import { readdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isOlmError } from '../../src/errors.js'
import { acquireLock } from '../../src/repo/lock.js'
import { PROJECT_ROOT } from '../helpers/olm.js'
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

  it('takes over an empty lock left by a run killed while creating it, once it is old, and one whose JSON names no holder', async () => {
    for (const text of ['', '"x"\n', '{"pid":"1"}\n', 'null\n']) {
      const dir = await testDir()
      await writeFile(path.join(dir, 'lock'), text)
      const old = new Date(Date.now() - 60_000)
      await utimes(path.join(dir, 'lock'), old, old)
      const lock = await acquireLock(dir, opts(2_000))
      expect(JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid })
      await lock.release()
    }
  })

  it('does not take over an empty lock that was just created (its writer may be mid-write)', async () => {
    const dir = await testDir()
    await writeFile(path.join(dir, 'lock'), '')
    await expect(acquireLock(dir, opts(300))).rejects.toSatisfy((e) => isOlmError(e, 'LOCKED'))
  })

  it('takes over a dead holder of its own pid namespace, and one an older olm wrote (no namespace, no token)', async () => {
    const dir = await testDir()
    const dead = { pid: 999_999_999, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z' }
    for (const holder of [{ ...dead, pidns: await readlink('/proc/self/ns/pid'), token: 'abc' }, dead]) {
      await writeFile(path.join(dir, 'lock'), JSON.stringify(holder) + '\n')
      const lock = await acquireLock(dir, opts(2_000))
      expect(JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, pidns: await readlink('/proc/self/ns/pid') })
      await lock.release()
    }
  })

  it('lets go only of its own lock, not one another run of the same pid wrote (a container running olm as pid 1)', async () => {
    const dir = await testDir()
    const lock = await acquireLock(dir, opts(0))
    const mine = JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))
    await writeFile(path.join(dir, 'lock'), JSON.stringify({ ...mine, token: 'another' }) + '\n')
    await lock.release()
    expect(JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ token: 'another' })
  })

  it('removes temp files of dead runs: by the holder they name, else by their age', async () => {
    const dir = await testDir()
    const holder = (pid: number, pidns?: string) => JSON.stringify({ pid, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z', pidns, token: `t${pid}` }) + '\n'
    await writeFile(path.join(dir, 'lock.999999999.ab12.new'), holder(999_999_999, await readlink('/proc/self/ns/pid'))) // dead
    await writeFile(path.join(dir, 'lock.999999998.new'), holder(999_999_998)) // an older olm's, dead
    await writeFile(path.join(dir, `lock.${process.pid}.abc.new`), holder(process.pid, await readlink('/proc/self/ns/pid'))) // a live run's, between its two calls
    await writeFile(path.join(dir, 'lock.1.0123abcd.new'), '') // killed mid-write, long ago
    await writeFile(path.join(dir, 'lock.1.f00d.new'), '') // being written
    const old = new Date(Date.now() - 120_000)
    await utimes(path.join(dir, 'lock.1.0123abcd.new'), old, old)
    const lock = await acquireLock(dir, opts(0))
    expect((await readdir(dir)).sort()).toEqual(['lock', `lock.${process.pid}.abc.new`, 'lock.1.f00d.new'].sort())
    await lock.release()
  })
})

/** Whether this machine lets the tests make pid namespaces (root, or user namespaces allowed). */
const unshareWorks = (() => {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'true'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
const inInitialNamespace = readlinkSync('/proc/self/ns/pid') === 'pid:[4026531836]'
const ownTimeNamespace = (() => {
  try {
    return readlinkSync('/proc/self/ns/time')
  } catch {
    return undefined // a kernel before 5.6
  }
})()

describe.skipIf(!unshareWorks || !inInitialNamespace)('a holder in another pid namespace (a container sharing the directory)', () => {
  /** pid 1 of a new pid namespace, as a container's olm often is: its namespace and its start time (as /proc/1/stat has it there). */
  async function container() {
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', "readlink /proc/self/ns/pid; cut -d' ' -f22 /proc/1/stat; exec sleep 60"], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // its own process group: unshare and the namespace's pid 1 end together
    })
    let out = ''
    while (out.split('\n').length < 3) out += String((await once(child.stdout!, 'data'))[0])
    const [pidns, startTicks] = out.trim().split('\n')
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      process.kill(-child.pid!, 'SIGCONT')
      process.kill(-child.pid!, 'SIGKILL')
      await once(child, 'exit')
    }
    return { child, pidns: pidns!, startTicks: startTicks!, stop }
  }
  const holderOf = (c: { pidns: string; startTicks: string }) =>
    JSON.stringify({ pid: 1, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z', startTicks: c.startTicks, pidns: c.pidns, timens: ownTimeNamespace, token: 'c1' }) + '\n'
  /** The host pid of a pid namespace's pid 1. */
  const pid1Of = async (pidns: string) => {
    for (const p of await membersOf(pidns)) if (/^NSpid:.*\t1$/m.test(await readFile(`/proc/${p}/status`, 'utf8').catch(() => ''))) return p
    throw new Error(`no pid 1 in ${pidns}`)
  }
  /** The host pids of the processes in a pid namespace. */
  const membersOf = async (pidns: string) => (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && (() => { try { return readlinkSync(`/proc/${p}/ns/pid`) === pidns } catch { return false } })())

  it('is waited for while it runs, and taken over once it is gone, even when a later container has its namespace number', async () => {
    const dir = await testDir()
    const first = await container()
    let second: Awaited<ReturnType<typeof container>> | undefined
    try {
      expect(first.pidns).not.toBe(await readlink('/proc/self/ns/pid'))
      await writeFile(path.join(dir, 'lock'), holderOf(first))
      // Its pid 1 is no process of ours: only its namespace tells.
      await expect(acquireLock(dir, opts(300))).rejects.toSatisfy((e) => isOlmError(e, 'LOCKED') && !/cannot see/.test(e.message))
      await first.stop()
      // Once its last process is reaped, the kernel gives the freed namespace number to the next
      // container (here it did, every time): that one's pid 1 is no holder.
      const deadline = Date.now() + 10_000
      while ((await membersOf(first.pidns)).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 100))
      second = await container()
      const lock = await acquireLock(dir, opts(8_000))
      expect(JSON.parse(await readFile(path.join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid })
      await lock.release()
    } finally {
      await first.stop()
      await second?.stop()
    }
  })

  it('is taken over once it has ended, though its parent, stopped, never reaps it (a zombie)', async () => {
    const dir = await testDir()
    const c = await container()
    try {
      await writeFile(path.join(dir, 'lock'), JSON.stringify({ ...JSON.parse(holderOf(c)), token: 'c2' }) + '\n')
      // By its pid there, not by the order /proc lists them in: pids wrap, and the shell's last child may still be listed.
      const pid1 = await pid1Of(c.pidns)
      process.kill(c.child.pid!, 'SIGSTOP') // unshare, its parent
      // Stopped before its child ends, or it may reap it first (a wait in progress sees the exit before the signal).
      const stopped = Date.now() + 5_000
      while (!/^State:\s*T/m.test(await readFile(`/proc/${c.child.pid}/status`, 'utf8')) && Date.now() < stopped) await new Promise((r) => setTimeout(r, 10))
      process.kill(Number(pid1), 'SIGKILL')
      const deadline = Date.now() + 5_000
      while (!/^State:\s*Z/m.test(await readFile(`/proc/${pid1}/status`, 'utf8')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(await readFile(`/proc/${pid1}/status`, 'utf8')).toMatch(/^State:\s*Z/m)
      const lock = await acquireLock(dir, opts(8_000))
      await lock.release()
    } finally {
      await c.stop()
    }
  })

  it('from inside a namespace, a holder outside it is never judged dead, and the error says what to do', async () => {
    const dir = await testDir()
    // A holder of the initial namespace whose pid no process has: dead, but not to be seen from inside.
    await writeFile(path.join(dir, 'lock'), JSON.stringify({ pid: 999_999_999, host: os.hostname(), command: 'sync', started: '2030-01-02T03:04:05.000Z', pidns: await readlink('/proc/self/ns/pid'), token: 'h1' }) + '\n')
    const script = `const { acquireLock } = await import(${JSON.stringify(path.join(PROJECT_ROOT, 'dist/repo/lock.js'))})
await acquireLock(process.argv[1], { command: 'test', waitMs: 300, now: () => new Date() }).then(() => console.log('taken'), (e) => console.log(e.message))`
    const out = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '--input-type=module', '-e', script, dir], { encoding: 'utf8' })
    expect(out.trim()).toMatch(/^pid 999999999 on .* holds .*\/lock; try again later; olm cannot see that process from here: if it no longer runs, remove the file$/)
  })
})
