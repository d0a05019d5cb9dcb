import { execFileSync, spawnSync } from 'node:child_process'
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises'
import nodeFs from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { fileEntry, type WritePlan } from '../../src/repo/plan.js'
import { systemCloneTools } from '../../src/repo/clone-generation.js'
import { fileByFile, syncfsFlush, systemFlush } from '../../src/repo/flush.js'
import { type Fs, generationsDir, listRecyclable, publishPlan, systemFs } from '../../src/repo/publish.js'
import { registerRepository, replaceSection } from '../../src/repo/repos-conf-entry.js'
import { PROJECT_ROOT, snapshotTree } from '../helpers/olm.js'
import { testDir } from '../helpers/tmp.js'

function plan(files: Record<string, string>, digest: string): WritePlan {
  return {
    digest: digest.padEnd(64, '0'),
    entries: Object.entries(files).map(([relPath, text]) => fileEntry(relPath, Buffer.from(text), relPath.endsWith('.sh'))),
  }
}

/**
 * Wraps fs so that the first call of `op` on a path matching `at` fails with
 * `code`: a full disk or a dying one. By path, not by count: which calls a
 * publish makes depends on the umask (under 077 every directory is given its mode).
 */
function failingFs(op: keyof Fs, at: RegExp, code: string): Fs {
  let failed = false
  return new Proxy(systemFs, {
    get(target, prop, recv) {
      const real = Reflect.get(target, prop, recv)
      if (prop !== op) return real
      const sync = String(prop).endsWith('Sync')
      return (...args: unknown[]) => {
        if (!failed && at.test(String(args[0]))) {
          failed = true
          const err = Object.assign(new Error(`${code}: injected`), { code })
          if (sync) throw err
          return Promise.reject(err)
        }
        return (real as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  }) as Fs
}

describe('publishPlan', () => {
  it('publishes through a symlink, keeps the previous generation, and detects no change', async () => {
    const dir = await testDir()
    const location = path.join(dir, 'repos/overlayman')
    await mkdir(path.dirname(location))
    const first = await publishPlan(plan({ 'profiles/repo_name': 'overlayman\n', 'a/b/run.sh': 'echo\n' }, 'aaa'), location)
    expect(first.changed).toBe(true)
    expect(await readFile(path.join(location, 'profiles/repo_name'), 'utf8')).toBe('overlayman\n')
    expect((await lstat(path.join(location, 'a/b/run.sh'))).mode & 0o777).toBe(0o755)
    expect((await lstat(path.join(location, 'profiles/repo_name'))).mode & 0o777).toBe(0o644)

    const same = await publishPlan(plan({ 'profiles/repo_name': 'overlayman\n' }, 'aaa'), location)
    expect(same.changed).toBe(false)

    await publishPlan(plan({ 'profiles/repo_name': 'overlayman\n', x: '1' }, 'bbb'), location)
    await publishPlan(plan({ 'profiles/repo_name': 'overlayman\n', y: '2' }, 'ccc'), location)
    // each generation with the list of its files that the next publish reuses by
    const kept = [`g-bbb${'0'.repeat(21)}`, `g-ccc${'0'.repeat(21)}`]
    expect((await readdir(generationsDir(location))).sort()).toEqual(kept.flatMap((g) => [g, `${g}.files`]))
    expect(await readlink(location)).toBe(`.overlayman.olm/g-ccc${'0'.repeat(21)}`)
  })

  it('publishes the same plan again when its generation is gone, rather than leave the link dangling', async () => {
    const location = path.join(await testDir(), 'overlayman')
    const p = plan({ 'profiles/repo_name': 'overlayman\n', 'cat/pkg/pkg-1.ebuild': 'EAPI=8\n' }, 'aaa')
    await publishPlan(p, location)
    await nodeFs.rm(path.join(generationsDir(location), await readlink(location).then((l) => path.basename(l))), { recursive: true })
    expect((await publishPlan(p, location)).changed).toBe(true)
    expect(await readFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
    expect((await publishPlan(p, location)).changed).toBe(false)
  })

  it.each([
    ['the mode probe', 'open', /\.olm-mode-probe\/f$/, 'EIO'],
    ['a new file', 'writeFileSync', /cat\/other\/x$/, 'ENOSPC'],
    ['a changed file', 'writeFileSync', /profiles\/repo_name$/, 'EIO'],
    ['a new directory', 'mkdir', /\.stage-[^/]+\/cat\/other$/, 'ENOSPC'],
    ['the staging directory, opened to give it its mode', 'open', /\.stage-[^/]+$/, 'ENOSPC'],
    ["the generation's file list", 'open', /\.files\.tmp$/, 'EIO'],
    ['the file list renamed to its name', 'rename', /\.files\.tmp$/, 'ENOSPC'],
    ["the staging directory renamed to the generation's name", 'rename', /\.stage-[^/]+$/, 'EIO'],
    ['the new link', 'symlink', /./, 'EIO'],
  ] as const)('%s (%s of %s) failing with %s publishes nothing and leaves no debris', async (_what, op, at, code) => {
    const dir = await testDir()
    const location = path.join(dir, 'overlayman')
    await publishPlan(plan({ 'profiles/repo_name': 'old\n', 'cat/pkg/pkg-1.ebuild': 'EAPI=8\n' }, 'old'), location)
    const before = await snapshotTree(location + '/')
    const next = plan({ 'profiles/repo_name': 'new\n', 'cat/pkg/pkg-2.ebuild': 'EAPI=8\n', 'cat/other/x': 'y' }, 'new')
    await expect(publishPlan(next, location, failingFs(op, at, code))).rejects.toThrow(`${code}: injected`)
    expect(await snapshotTree(location + '/')).toEqual(before)
    const debris = (await readdir(generationsDir(location))).filter((n) => !n.startsWith(`g-old`))
    expect(debris).toEqual([])
    // and the next, healthy, run succeeds
    expect((await publishPlan(next, location)).changed).toBe(true)
    expect(await readFile(path.join(location, 'profiles/repo_name'), 'utf8')).toBe('new\n')
  })

  describe('durability', () => {
    const files = { 'profiles/repo_name': 'overlayman\n', 'cat/pkg/pkg-1.ebuild': 'EAPI=8\n' }
    const freshlyPublished = async (p: WritePlan) => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(p, location)
      return location + '/'
    }

    it('flushes the new generation before the location points at it', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      const seen: { dir: string; live: string; holds: string; lists: string[] }[] = []
      const recording = {
        batch: true,
        flush: async (dir: string) =>
          void seen.push({
            dir,
            live: await readlink(location),
            holds: await readFile(path.join(dir, 'profiles/repo_name'), 'utf8'),
            lists: (await readdir(generationsDir(location))).filter((n) => n.endsWith('.files')),
          }),
      }
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'two\n' }, 'two'), location, systemFs, recording)
      // by its generation's name: the rename to it is made durable too; its list is put in place after
      expect(seen).toEqual([{ dir: path.join(generationsDir(location), `g-two${'0'.repeat(21)}`), live: `.overlayman.olm/g-one${'0'.repeat(21)}`, holds: 'two\n', lists: [`g-one${'0'.repeat(21)}.files`] }])
      expect(await readdir(generationsDir(location))).toContain(`g-two${'0'.repeat(21)}.files`)
      expect(await readFile(path.join(location, 'profiles/repo_name'), 'utf8')).toBe('two\n')
    })

    it.each([
      ['with the list it was written with', true],
      ['without a list', false],
    ])('rebuilds a generation that a cut-short prune or run left under the name a plan asks for, %s', async (_, withList) => {
      const location = path.join(await testDir(), 'overlayman')
      const genOne = path.join(generationsDir(location), `g-one${'0'.repeat(21)}`)
      await publishPlan(plan({ ...files, 'cat/pkg/files/run.sh': 'echo\n' }, 'one'), location)
      const list = await readFile(`${genOne}.files`)
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'two\n' }, 'two'), location)
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'three\n' }, 'three'), location) // recycles one
      // what an rm -rf killed halfway, or a power loss before the flush, leaves: some files, some empty;
      // with a list, one an older olm left (it put lists in place before the flush): no first line
      await mkdir(path.join(genOne, 'profiles'), { recursive: true })
      await writeFile(path.join(genOne, 'profiles/repo_name'), '')
      if (withList) await writeFile(`${genOne}.files`, list.toString('utf8').split('\n').slice(1).join('\n'))
      await publishPlan(plan({ ...files, 'cat/pkg/files/run.sh': 'echo\n' }, 'one'), location)
      expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await freshlyPublished(plan({ ...files, 'cat/pkg/files/run.sh': 'echo\n' }, 'one'))))
    })

    it('flushes a generation an earlier run named before the link points at it again', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'two\n' }, 'two'), location)
      const flushed: string[] = []
      // back to the first plan: its generation is still there, kept as the previous one
      await publishPlan(plan(files, 'one'), location, systemFs, { batch: true, flush: async (dir) => void flushed.push(dir) })
      expect(flushed).toEqual([path.join(generationsDir(location), `g-one${'0'.repeat(21)}`)])
      expect(await readlink(location)).toBe(`.overlayman.olm/g-one${'0'.repeat(21)}`)
    })

    it('publishes nothing when the flush fails, and names what failed', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      const before = await snapshotTree(location + '/')
      // A real sync(1) stand-in that fails, as one reporting an I/O error would.
      await expect(publishPlan(plan({ ...files, x: 'y' }, 'two'), location, systemFs, syncfsFlush('/bin/false'))).rejects.toThrow(/could not write the repository.*\/bin\/false -f .*exit 1/)
      expect(await snapshotTree(location + '/')).toEqual(before)
      expect((await readdir(generationsDir(location))).filter((n) => !n.startsWith('g-one'))).toEqual([])
    })

    describe('a small patch of a recycled generation', () => {
      const one = { 'profiles/repo_name': 'x\n', 'cat/pkg/pkg-1.ebuild': 'a\n', 'cat/gone/gone-1.ebuild': 'g\n', 'cat/keep/keep-1.ebuild': 'k\n', 'dev/lone/lone-1.ebuild': 'l\n', 'dev/lone/lone-2.ebuild': 'l\n', 'dev/extra/files/e': 'e\n' }
      const two = { ...one, 'cat/pkg/pkg-1.ebuild': 'b\n', 'cat/two/two-1.ebuild': 't\n' }
      // from one (the generation it recycles): pkg-1 changed, new-1 new, two-1 shared from two, cat/gone, lone-2 and dev/extra removed
      const three = { 'profiles/repo_name': 'x\n', 'cat/pkg/pkg-1.ebuild': 'c\n', 'cat/new/new-1.ebuild': 'n\n', 'cat/keep/keep-1.ebuild': 'k\n', 'cat/two/two-1.ebuild': 't\n', 'dev/lone/lone-1.ebuild': 'l\n', 'app/deep/files/f': 'f\n' }
      const gen = (digest: string) => `g-${digest.padEnd(24, '0')}`

      type Op = { op: string; path: string; to?: string; live: string | null }
      /**
       * fs calls recorded in order (what changes directories, and every fsync, with where the link
       * pointed then); `fault` fails the first fsync of a matching path, `probeSays` is the mode the
       * umask probe reports.
       */
      function recordingFs(location: string, ops: Op[], opts: { fault?: RegExp; probeSays?: number } = {}): Fs {
        const live = () => readlink(location).catch(() => null)
        const log = async (op: string, p: unknown, to?: unknown) => void ops.push({ op, path: String(p), ...(to !== undefined && { to: String(to) }), live: await live() })
        let faulted = false
        const handle = (fh: nodeFs.FileHandle, file: string) =>
          new Proxy(fh, {
            get(target, prop) {
              const value = Reflect.get(target, prop, target) as unknown
              if (typeof value !== 'function') return value
              if (prop !== 'sync' && prop !== 'datasync') return value.bind(target)
              return async () => {
                await log(prop, file)
                if (opts.fault && !faulted && opts.fault.test(file)) {
                  faulted = true
                  throw Object.assign(new Error('EIO: injected'), { code: 'EIO' })
                }
                return value.call(target)
              }
            },
          })
        return {
          ...systemFs,
          open: async (file: string, flags?: string, mode?: number) => {
            if (flags === 'wx' || flags === 'w') await log('create', file)
            return handle(await systemFs.open(file, flags, mode), file)
          },
          rm: async (p: string, o?: object) => (await log('rm', p), systemFs.rm(p, o)),
          rename: async (a: string, b: string) => (await log('rename', a, b), systemFs.rename(a, b)),
          mkdir: async (p: string, o?: object) => (await log('mkdir', p), systemFs.mkdir(p, o as never)),
          link: async (a: string, b: string) => (await log('link', b), systemFs.link(a, b)),
          symlink: async (a: string, b: string) => (await log('symlink', b), systemFs.symlink(a, b)),
          writeFileSync: ((file: string, ...rest: unknown[]) => {
            ops.push({ op: 'create', path: file, live: null })
            return (systemFs.writeFileSync as (...a: unknown[]) => void)(file, ...rest)
          }) as Fs['writeFileSync'],
          lstat: (async (p: string, o?: { bigint?: boolean }) => {
            const st = await systemFs.lstat(p, o as never)
            if (opts.probeSays === undefined || !/\.olm-mode-probe(\/f)?$/.test(p)) return st
            return Object.assign(Object.create(Object.getPrototypeOf(st) as object), st, { mode: (st.mode & ~0o7777) | opts.probeSays })
          }) as Fs['lstat'],
        } as Fs
      }

      async function publishThree(fsyncUpTo: number, opts: { fault?: RegExp; probeSays?: number; legacyList?: boolean } = {}) {
        const location = path.join(await testDir(), 'overlayman')
        const genDir = generationsDir(location)
        const flushed: string[] = []
        const durability = { batch: true, fsyncUpTo, flush: async (dir: string) => void flushed.push(dir) }
        await publishPlan(plan(one, 'one'), location, systemFs, durability)
        await publishPlan(plan(two, 'two'), location, systemFs, durability)
        // a list as an olm before lists were put in place only once durable wrote it: no first line
        if (opts.legacyList) await writeFile(path.join(genDir, `${gen('one')}.files`), (await readFile(path.join(genDir, `${gen('one')}.files`), 'utf8')).split('\n').slice(1).join('\n'))
        flushed.length = 0
        const ops: Op[] = []
        const result = await publishPlan(plan(three, 'three'), location, recordingFs(location, ops, opts), durability).catch((err: Error) => err)
        // a path inside the generation as it was being patched (under a staging name), from its top
        const inside = (p: string) => (/\/\.stage-[^/]+(?:\/(.*))?$/.exec(p)?.[1] ?? null) ?? (p.includes('/.stage-') ? '' : null)
        return { location, genDir, flushed, ops, inside, result }
      }

      it('is made durable by fsyncs of what it wrote and of each directory that changed, each after its change, before the link moves', async () => {
        const { location, genDir, flushed, ops, inside, result } = await publishThree(64)
        expect(result).toMatchObject({ changed: true })
        expect(flushed).toEqual([])
        const at = (op: string, test: (o: Op) => boolean) => ops.findIndex((o) => o.op === op && test(o))
        // written and fsynced: the changed and the new ebuild, and the generation's list; two-1 is a link to the previous generation's
        expect(ops.filter((o) => o.op === 'datasync').map((o) => inside(o.path) ?? path.relative(genDir, o.path)).sort()).toEqual(['app/deep/files/f', 'cat/new/new-1.ebuild', 'cat/pkg/pkg-1.ebuild', `${gen('three')}.files.tmp`])
        // every directory that gained or lost an entry, after the last such change, and no other (not cat/keep, profiles)
        // (app only gained a directory made for it)
        const changed = ['', 'app', 'app/deep', 'app/deep/files', 'cat', 'cat/pkg', 'cat/new', 'cat/two', 'dev', 'dev/lone']
        const syncs = ops.map((o, i) => [o, i] as const).filter(([o]) => o.op === 'sync' && inside(o.path) !== null)
        expect(syncs.map(([o]) => inside(o.path)).sort()).toEqual([...changed].sort())
        for (const [o, i] of syncs) {
          const dir = inside(o.path)!
          const last = ops.findLastIndex((c) => ['rm', 'mkdir', 'create', 'link', 'symlink'].includes(c.op) && inside(c.path) !== null && path.posix.dirname(inside(c.path)!) === (dir || '.'))
          expect([dir, i > last]).toEqual([dir, true])
        }
        // then the generation named, its directory fsynced, its list put in place, and only then the link
        const named = at('rename', (o) => o.to === path.join(genDir, gen('three')))
        const genDirSynced = ops.findLastIndex((o) => o.op === 'sync' && o.path === genDir)
        const listed = at('rename', (o) => o.to === path.join(genDir, `${gen('three')}.files`))
        expect(named).toBeGreaterThan(Math.max(...syncs.map(([, i]) => i)))
        expect(genDirSynced).toBeGreaterThan(named)
        expect(listed).toBeGreaterThan(genDirSynced)
        expect(ops.slice(0, listed + 1).every((o) => o.live === null || o.live === `.overlayman.olm/${gen('two')}`)).toBe(true)
        // the generations directory fsynced (the recycle on disk) before anything in the stage changed
        expect(at('sync', (o) => o.path === genDir)).toBeLessThan(ops.findIndex((o) => inside(o.path) !== null))
        // the recycled generation lost its list before it was renamed to be patched
        const unlisted = at('rm', (o) => o.path === path.join(genDir, `${gen('one')}.files`))
        expect(unlisted).toBeGreaterThanOrEqual(0)
        expect(unlisted).toBeLessThan(at('rename', (o) => o.path === path.join(genDir, gen('one'))))
        expect(ops.filter((o) => o.live === `.overlayman.olm/${gen('three')}` && o.op === 'sync').map((o) => o.path)).toEqual([path.dirname(location)])
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await freshlyPublished(plan(three, 'three'))))
      })

      it('fsyncs, not fdatasyncs, a file it had to give its mode (under a umask that takes bits away)', async () => {
        const { ops, inside } = await publishThree(64, { probeSays: 0o700 })
        const fileSyncs = ops.filter((o) => (o.op === 'sync' || o.op === 'datasync') && /\.ebuild$/.test(o.path))
        expect(fileSyncs.map((o) => [inside(o.path), o.op]).sort()).toEqual([['cat/new/new-1.ebuild', 'sync'], ['cat/pkg/pkg-1.ebuild', 'sync']])
      })

      it('larger than fsyncUpTo: one flush, and no file fsynced', async () => {
        const { genDir, flushed, ops } = await publishThree(2)
        expect(flushed).toEqual([path.join(genDir, gen('three'))])
        expect(ops.filter((o) => o.op === 'datasync' && !o.path.endsWith('.files.tmp'))).toEqual([])
      })

      it('of a generation whose list an older olm wrote (perhaps before it was durable): one flush', async () => {
        const { genDir, flushed } = await publishThree(64, { legacyList: true })
        expect(flushed).toEqual([path.join(genDir, gen('three'))])
      })

      it('an fsync failing publishes nothing and leaves no debris, and the next run succeeds', async () => {
        const { location, genDir, result, ops } = await publishThree(64, { fault: /cat\/new\/new-1\.ebuild$/ })
        expect(String(result)).toMatch(/EIO: injected/)
        // its list (had it been written) removed before the tree
        const listGone = ops.findIndex((o) => o.op === 'rm' && o.path === path.join(genDir, `${gen('three')}.files`))
        const treeGone = ops.findIndex((o) => o.op === 'rm' && o.path.includes('/.stage-') && !o.path.slice(o.path.indexOf('/.stage-') + 1).includes('/'))
        expect(listGone).toBeGreaterThanOrEqual(0)
        expect(treeGone).toBeGreaterThan(listGone)
        expect(await readlink(location)).toBe(`.overlayman.olm/${gen('two')}`)
        expect((await readdir(genDir)).filter((n) => !n.startsWith(gen('two')))).toEqual([])
        expect((await publishPlan(plan(three, 'three'), location)).changed).toBe(true)
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await freshlyPublished(plan(three, 'three'))))
      })
    })

    it('a run killed in its flush leaves nothing the next trusts, not even a list left under its name before', async () => {
      const gen = (digest: string) => `g-${digest.padEnd(24, '0')}`
      const one = { ...files, 'cat/a/a-1.ebuild': 'a\n' }
      const three = { ...files, 'cat/c/c-1.ebuild': 'c\n' }
      // the list plan three's generation has, as a prune (or an older olm) cut short leaves it beside no generation
      const elsewhere = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(three, 'three'), elsewhere)
      const staleList = await readFile(path.join(generationsDir(elsewhere), `${gen('three')}.files`))
      const location = path.join(await testDir(), 'overlayman')
      const genDir = generationsDir(location)
      await publishPlan(plan(one, 'one'), location)
      await publishPlan(plan({ ...files, 'cat/b/b-1.ebuild': 'b\n' }, 'two'), location)
      await writeFile(path.join(genDir, `${gen('three')}.files`), staleList)
      // a run publishing three, killed (SIGKILL, in its own process) inside the flush
      const module = (rel: string) => JSON.stringify(pathToFileURL(path.join(PROJECT_ROOT, 'dist', rel)).href)
      const killed = spawnSync(process.execPath, ['--input-type=module', '-e', `
        const { publishPlan } = await import(${module('repo/publish.js')})
        const { fileEntry } = await import(${module('repo/plan.js')})
        const entries = Object.entries(${JSON.stringify(three)}).map(([rel, text]) => fileEntry(rel, Buffer.from(text), false))
        await publishPlan({ digest: ${JSON.stringify(plan(three, 'three').digest)}, entries }, ${JSON.stringify(location)}, undefined,
          { batch: true, fsyncUpTo: 0, flush: async () => process.kill(process.pid, 'SIGKILL') })
        console.log('not killed')`])
      expect([killed.signal, killed.stdout.toString()]).toEqual(['SIGKILL', ''])
      expect(await readdir(genDir)).toContain(gen('three'))
      // its generation is there under its name, never flushed: the next run must flush what it publishes
      const flushed: string[] = []
      await publishPlan(plan(three, 'three'), location, systemFs, { batch: true, fsyncUpTo: 64, flush: async (dir) => void flushed.push(dir) })
      expect(flushed).toEqual([path.join(genDir, gen('three'))])
      expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await freshlyPublished(plan(three, 'three'))))
    })

    it('prunes a generation\'s list before the generation', async () => {
      const gen = (digest: string) => `g-${digest.padEnd(24, '0')}`
      const location = path.join(await testDir(), 'overlayman')
      const genDir = generationsDir(location)
      const tools = systemCloneTools()!
      const seen: { paths: string[]; lists: string[]; names: string[] }[] = []
      const watching = {
        ...tools,
        removeTrees: async (paths: string[]) => {
          const names = await readdir(genDir)
          seen.push({ paths, lists: names.filter((n) => n.endsWith('.files')), names })
          return tools.removeTrees!(paths)
        },
      }
      for (const d of ['one', 'two']) await publishPlan(plan({ ...files, x: d }, d), location, systemFs, systemFlush(), watching)
      // two more with lists, as a run cut short leaves them: the first is recycled, the other pruned
      for (const d of ['aaa', 'zzz']) {
        await mkdir(path.join(genDir, `g-${d}`, 'cat'), { recursive: true })
        await writeFile(path.join(genDir, `g-${d}`, 'cat/x'), 'x\n')
        await writeFile(path.join(genDir, `g-${d}.files`), 'git:00 2 - cat/x\n')
      }
      await publishPlan(plan({ ...files, x: 'three' }, 'three'), location, systemFs, systemFlush(), watching)
      // aaa is recycled (the first by name); one (retired) and zzz go, their lists gone already, and
      // under names no generation takes (an rm outliving a killed olm never removes a new one)
      expect(seen).toHaveLength(1)
      expect(seen[0]!.paths.map((p) => path.basename(p))).toEqual([expect.stringMatching(/^\.doomed-/), expect.stringMatching(/^\.doomed-/)])
      expect(seen[0]!.lists.filter((n) => n.startsWith(gen('one')) || n.startsWith('g-zzz'))).toEqual([])
      expect(seen[0]!.names.filter((n) => n === gen('one') || n === 'g-zzz')).toEqual([])
      expect((await readdir(genDir)).sort()).toEqual([gen('three'), `${gen('three')}.files`, gen('two'), `${gen('two')}.files`].sort())
    })

    it.each([
      ['file by file', fileByFile],
      ['by the system sync(1)', systemFlush()],
    ])('writes the same repository %s', async (_, durability) => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan({ ...files, 'a/run.sh': 'echo\n' }, 'one'), location, systemFs, durability)
      expect(await readFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
      expect((await lstat(path.join(location, 'a/run.sh'))).mode & 0o777).toBe(0o755)
    })
  })

  describe('a generation built from a hard-linked clone of the previous one', () => {
    const tools = systemCloneTools()
    const symlink = (relPath: string, target: string) => ({ relPath, kind: 'symlink' as const, target })
    const mixed = (files: Record<string, string>, links: [string, string][], digest: string): WritePlan => {
      const p = plan(files, digest)
      p.entries.push(...links.map(([rel, target]) => symlink(rel, target)))
      return p
    }
    const before = mixed(
      { 'profiles/repo_name': 'x\n', 'a/keep/k-1.ebuild': 'EAPI=8\n', 'a/keep/files/run.sh': 'echo\n', 'a/gone/g-1.ebuild': 'EAPI=8\n', 'a/change/c-1.ebuild': 'old\n', 'a/todir': 'file\n', 'a/tofile/inner/x': 'y\n' },
      [['a/keep/files/link', 'run.sh']],
      'one',
    )
    const after = mixed(
      { 'profiles/repo_name': 'x\n', 'a/keep/k-1.ebuild': 'EAPI=8\n', 'a/keep/files/run.sh': 'echo\n', 'a/new/n-1.ebuild': 'EAPI=8\n', 'a/change/c-1.ebuild': 'new\n', 'a/todir/now': 'inside\n', 'a/tofile': 'now a file\n' },
      [['a/keep/files/link', 'k-1.ebuild']],
      'two',
    )

    it.skipIf(!tools)('is the repository a fresh write gives, sharing what did not change', async () => {
      const cloned = path.join(await testDir(), 'overlayman')
      await publishPlan(before, cloned, systemFs, systemFlush(), tools)
      const keptIno = (await lstat(path.join(cloned, 'a/keep/k-1.ebuild'))).ino
      await publishPlan(after, cloned, systemFs, systemFlush(), tools)
      const fresh = path.join(await testDir(), 'overlayman')
      await publishPlan(after, fresh, systemFs, systemFlush(), null)
      expect(await snapshotTree(cloned + '/')).toEqual(await snapshotTree(fresh + '/'))
      expect((await lstat(path.join(cloned, 'a/keep/k-1.ebuild'))).ino).toBe(keptIno)
      // and the list it leaves lets the next publish share again
      await publishPlan(before, cloned, systemFs, systemFlush(), tools)
      expect(await snapshotTree(cloned + '/')).toEqual(await snapshotTree(await publishedFresh(before)))
    })

    it.skipIf(!tools)('writes again a file that no longer matches the list', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(before, location, systemFs, systemFlush(), tools)
      await writeFile(path.join(location, 'a/keep/k-1.ebuild'), 'EAPI=8\n# edited in place\n')
      await publishPlan(after, location, systemFs, systemFlush(), tools)
      expect(await readFile(path.join(location, 'a/keep/k-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
    })

    it.skipIf(!tools)('writes file by file when the previous generation cannot be listed (no GNU find)', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(before, location, systemFs, systemFlush(), tools)
      const unlisted = { list: async () => null, clone: tools!.clone }
      await publishPlan(after, location, systemFs, systemFlush(), unlisted)
      expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(after)))
    })

    describe('built in the generation before the previous one, which the publish retires', () => {
      // k-1 is in every generation (one inode shared by all), c-1 as the previous generation has it
      const third = mixed(
        { 'profiles/repo_name': 'x\n', 'a/keep/k-1.ebuild': 'EAPI=8\n# three\n', 'a/keep/files/run.sh': 'echo\n', 'a/change/c-1.ebuild': 'new\n', 'a/gone/g-1.ebuild': 'EAPI=8\n' },
        [['a/keep/files/link', 'run.sh']],
        'three',
      )
      const gen = (location: string, name: string) => path.join(generationsDir(location), `g-${name}${'0'.repeat(24 - name.length)}`)
      /** A location where 'two' is live and 'one' is the generation the next publish retires (and the inode of its directory). */
      const oneThenTwo = async () => {
        const location = path.join(await testDir(), 'overlayman')
        await publishPlan(before, location, systemFs, systemFlush(), tools)
        const oldest = (await lstat(gen(location, 'one'))).ino
        await publishPlan(after, location, systemFs, systemFlush(), tools)
        return { location, oldest }
      }

      it.skipIf(!tools)('leaves the live generation as it was, and shares what it holds', async () => {
        const { location, oldest } = await oneThenTwo()
        const live = await snapshotTree(gen(location, 'two') + '/')
        await publishPlan(third, location, systemFs, systemFlush(), tools)
        expect((await lstat(gen(location, 'three'))).ino).toBe(oldest) // the same directory, renamed and patched
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
        // A file of the generation patched in place would show in the previous one: they share inodes.
        expect(await snapshotTree(gen(location, 'two') + '/')).toEqual(live)
        const ino = (name: string, rel: string) => lstat(path.join(gen(location, name), rel)).then((st) => st.ino)
        expect(await ino('three', 'a/change/c-1.ebuild')).toBe(await ino('two', 'a/change/c-1.ebuild'))
        expect(await ino('three', 'a/keep/files/run.sh')).toBe(await ino('two', 'a/keep/files/run.sh'))
        expect((await readdir(generationsDir(location))).sort()).toEqual(['three', 'two'].flatMap((n) => [path.basename(gen(location, n)), `${path.basename(gen(location, n))}.files`]))
      })

      it.skipIf(!tools)('is written file by file when it cannot be listed', async () => {
        const location = path.join(await testDir(), 'overlayman')
        await publishPlan(before, location, systemFs, systemFlush(), tools)
        await publishPlan(after, location, systemFs, systemFlush(), tools)
        await publishPlan(third, location, systemFs, systemFlush(), { list: async () => null, clone: tools!.clone })
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
      })

      it.skipIf(!tools)('is patched by a listing taken before the publish began (as sync takes it while resolving)', async () => {
        const { location, oldest } = await oneThenTwo()
        const listings = await listRecyclable(location, systemFs, tools)
        expect([...listings.keys()]).toEqual([path.basename(gen(location, 'one'))]) // not the live one
        // Listing again now would be a second find: it must not be needed.
        const listedOnce = { ...tools!, list: async () => Promise.reject(new Error('listed again')) }
        await publishPlan(third, location, systemFs, systemFlush(), listedOnce, listings)
        expect((await lstat(gen(location, 'three'))).ino).toBe(oldest)
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
      })

      it.skipIf(!tools)('is listed again when another olm put a new list beside it since the listing was taken', async () => {
        const { location } = await oneThenTwo()
        // As find would list it while another olm (past the lock in a deleted cache-dir) rewrote it: a file missed.
        const missing = 'a/todir'
        const midWrite = { ...tools!, list: async (dir: string) => new Map([...(await tools!.list(dir))!].filter(([rel]) => rel !== missing)) }
        const listings = await listRecyclable(location, systemFs, midWrite)
        expect([...listings.keys()]).toEqual([path.basename(gen(location, 'one'))])
        // That olm publishes 'one' (rewriting it under its name) and 'two' again: 'one' has a new list.
        await publishPlan(before, location, systemFs, systemFlush(), tools)
        await publishPlan(after, location, systemFs, systemFlush(), tools)
        await publishPlan(third, location, systemFs, systemFlush(), tools, listings)
        // Trusted, the stale listing would leave a/todir (which 'three' has not) in the repository.
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
      })

      it.skipIf(!tools)('is listed again when the listing taken before failed', async () => {
        const { location, oldest } = await oneThenTwo()
        const failed = await listRecyclable(location, systemFs, { ...tools!, list: async () => null })
        expect(await failed.get(path.basename(gen(location, 'one')))?.found).toBeNull()
        const listed: string[] = []
        const counting = { ...tools!, list: (dir: string) => (listed.push(path.basename(dir)), tools!.list(dir)) }
        await publishPlan(third, location, systemFs, systemFlush(), counting, failed)
        expect(listed).toEqual([expect.stringMatching(/^\.stage-/)]) // once, under its staging name
        expect((await lstat(gen(location, 'three'))).ino).toBe(oldest) // the retired generation, recycled
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
      })

      it.skipIf(!tools)('is not used without its file list', async () => {
        const { location, oldest } = await oneThenTwo()
        await nodeFs.rm(`${gen(location, 'one')}.files`)
        expect((await listRecyclable(location, systemFs, tools)).size).toBe(0)
        await publishPlan(third, location, systemFs, systemFlush(), tools)
        expect((await lstat(gen(location, 'three'))).ino).not.toBe(oldest)
        expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(third)))
      })
    })

    it('publishes over a link whose generation was deleted by hand', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(before, location, systemFs, systemFlush(), tools)
      await nodeFs.rm(path.join(generationsDir(location), `g-one${'0'.repeat(21)}`), { recursive: true })
      await publishPlan(after, location, systemFs, systemFlush(), tools)
      expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(await publishedFresh(after)))
    })

    it('fails cleanly when the clone fails', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(before, location, systemFs, systemFlush(), tools)
      const snapshot = await snapshotTree(location + '/')
      const failing = { list: async () => new Map(), clone: async () => Promise.reject(Object.assign(new Error('cp: injected'), { code: 'EIO' })) }
      await expect(publishPlan(after, location, systemFs, systemFlush(), failing)).rejects.toThrow(/could not write the repository.*injected/)
      expect(await snapshotTree(location + '/')).toEqual(snapshot)
      expect((await readdir(generationsDir(location))).filter((n) => !n.startsWith('g-one'))).toEqual([])
    })

    async function publishedFresh(p: WritePlan): Promise<string> {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(p, location, systemFs, systemFlush(), null)
      return location + '/'
    }
  })

  describe('a file the previous generation holds is shared, not written again', () => {
    const files = { 'profiles/repo_name': 'overlayman\n', 'cat/pkg/pkg-1.ebuild': 'EAPI=8\n', 'cat/pkg/files/run.sh': '#!/bin/sh\n' }
    const ino = async (location: string, rel: string) => (await lstat(path.join(location, rel))).ino

    it('unless its mtime is before 1970 (which find prints wrongly): written anew, and the publishes go on', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      await publishPlan(plan({ ...files, x: '2' }, 'two'), location)
      execFileSync('touch', ['-d', '@-5', path.join(location, 'cat/pkg/pkg-1.ebuild')])
      for (const d of ['n0', 'n1', 'n2']) expect((await publishPlan(plan({ ...files, x: d }, d), location)).changed).toBe(true)
      expect((await lstat(path.join(location, 'cat/pkg/pkg-1.ebuild'))).mtimeMs).toBeGreaterThan(0)
      expect(await readFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
    })

    it('with the mtime a file written and fsynced one by one came out with: it stays one inode', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location, systemFs, fileByFile)
      const first = await ino(location, 'cat/pkg/pkg-1.ebuild')
      for (const d of ['two', 'three', 'four']) await publishPlan(plan({ ...files, x: d }, d), location, systemFs, fileByFile)
      expect(await ino(location, 'cat/pkg/pkg-1.ebuild')).toBe(first)
    })

    it.each([
      ['shared from the live generation', 1],
      ['kept in the one recycled', 2],
    ])('unless edited in place, keeping its size: it is written anew when %s', async (_, later) => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      await publishPlan(plan({ ...files, x: '2' }, 'two'), location)
      // an editor writing in place: the inode every generation shares, the same size, a later mtime
      await new Promise((r) => setTimeout(r, 20))
      const fh = await nodeFs.open(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'r+')
      await fh.write('eapi=8\n', 0)
      await fh.close()
      for (let i = 0; i < later; i++) await publishPlan(plan({ ...files, x: `${3 + i}` }, `n${i}`), location)
      expect(await readFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
      const fresh = path.join(await testDir(), 'overlayman')
      await publishPlan(plan({ ...files, x: `${2 + later}` }, `n${later - 1}`), fresh, systemFs, systemFlush(), null)
      expect(await snapshotTree(location + '/')).toEqual(await snapshotTree(fresh + '/'))
    })

    it.each([
      ['by the list of its files', async () => {}],
      ['by reading it, when the list is gone', (genDir: string) => nodeFs.rm(path.join(genDir, `g-one${'0'.repeat(21)}.files`))],
      ['by reading it, when the list is not one olm wrote', (genDir: string) => writeFile(path.join(genDir, `g-one${'0'.repeat(21)}.files`), 'garbage\n')],
    ])('%s', async (_, damage) => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      const before = { ebuild: await ino(location, 'cat/pkg/pkg-1.ebuild'), script: await ino(location, 'cat/pkg/files/run.sh') }
      await damage(generationsDir(location))
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'renamed\n' }, 'two'), location)
      expect(await ino(location, 'cat/pkg/pkg-1.ebuild')).toBe(before.ebuild)
      expect(await ino(location, 'cat/pkg/files/run.sh')).toBe(before.script)
      expect(await readFile(path.join(location, 'profiles/repo_name'), 'utf8')).toBe('renamed\n')
    })

    it('is written again when the previous copy no longer matches its list', async () => {
      const location = path.join(await testDir(), 'overlayman')
      await publishPlan(plan(files, 'one'), location)
      // Someone edited the live generation in place (it is never olm that does).
      await writeFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'EAPI=8\n# edited\n')
      await publishPlan(plan({ ...files, 'profiles/repo_name': 'renamed\n' }, 'two'), location)
      expect(await readFile(path.join(location, 'cat/pkg/pkg-1.ebuild'), 'utf8')).toBe('EAPI=8\n')
    })
  })

  it('refuses to replace a directory it did not create', async () => {
    const dir = await testDir()
    const location = path.join(dir, 'overlayman')
    await mkdir(location)
    await writeFile(path.join(location, 'precious'), 'x')
    await expect(publishPlan(plan({ a: 'b' }, 'aaa'), location)).rejects.toThrow(/not olm's/)
    expect(await readFile(path.join(location, 'precious'), 'utf8')).toBe('x')
  })
})

describe('registerRepository', () => {
  it('writes its own file in a repos.conf directory, once', async () => {
    const dir = await testDir()
    const reposConf = path.join(dir, 'repos.conf')
    await mkdir(reposConf)
    await writeFile(path.join(reposConf, 'gentoo.conf'), '[gentoo]\nlocation = /var/db/repos/gentoo\n')
    expect((await registerRepository(reposConf, 'overlayman', '/var/db/repos/overlayman')).changed).toBe(true)
    expect((await registerRepository(reposConf, 'overlayman', '/var/db/repos/overlayman')).changed).toBe(false)
    expect(await readFile(path.join(reposConf, 'gentoo.conf'), 'utf8')).toBe('[gentoo]\nlocation = /var/db/repos/gentoo\n')
    expect(await readFile(path.join(reposConf, 'overlayman.conf'), 'utf8')).toContain('[overlayman]\nlocation = /var/db/repos/overlayman\n')
    expect((await lstat(path.join(reposConf, 'overlayman.conf'))).mode & 0o777).toBe(0o644)
  })

  it.each([
    ['appends to a file without the section', '[gentoo]\nlocation = /g\n', '[gentoo]\nlocation = /g\n\n[olm]\nlocation = /x\n'],
    ['replaces only its own section', '[a]\nk = 1\n\n[olm]\nlocation = /old\nauto-sync = yes\n\n# about b\n[b]\nk = 2\n', '[a]\nk = 1\n\n[olm]\nlocation = /x\n\n# about b\n[b]\nk = 2\n'],
    ['keeps a file without trailing newline intact', '[a]\nk = 1', '[a]\nk = 1\n\n[olm]\nlocation = /x\n'],
  ])('%s', (_name, before, after) => {
    expect(replaceSection(before, 'olm', '[olm]\nlocation = /x\n')).toBe(after)
  })
})
