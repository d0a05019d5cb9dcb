/**
 * Ebuilds are untrusted code: hostile ones written into a temp overlay are
 * contained, reported by name, and do not stop the other ebuilds.
 * Runs as the unprivileged evaluation user when the tests run as root.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isOlmError, type OlmError } from '../../src/errors.js'
import { createMetadataEvaluator, type MetadataEvaluatorHandle } from '../../src/metadata/evaluator.js'
import { readEvaluationUser } from '../../src/metadata/user.js'
import { openDirTree } from '../../src/overlay/dir-tree.js'
import { createOverlayIndex, type OverlayIndex } from '../../src/resolve/overlay-index.js'
import { testDir } from '../helpers/tmp.js'

const evaluators: MetadataEvaluatorHandle[] = []
afterEach(async () => {
  for (const e of evaluators.splice(0)) await e.close()
})

/** A temp overlay with one package per ebuild body (app-misc/<name>-1) and an evaluator for it. */
async function setup(ebuilds: Record<string, string>, opts: { jobs?: number; timeoutMs?: number } = {}) {
  const root = await testDir('olm-hostile-')
  await chmod(root, 0o755) // the evaluation user works in a scratch directory inside
  const overlayDir = path.join(root, 'overlay')
  for (const [name, body] of Object.entries(ebuilds)) {
    await mkdir(path.join(overlayDir, 'app-misc', name), { recursive: true })
    await writeFile(path.join(overlayDir, 'app-misc', name, `${name}-1.ebuild`), `EAPI=8\n${body}\nSLOT=0\n`)
  }
  await mkdir(path.join(overlayDir, 'eclass'), { recursive: true })
  const evaluator = createMetadataEvaluator({
    masterEclassDirs: [],
    cacheDir: path.join(root, 'cache'),
    jobs: opts.jobs ?? 2,
    timeoutMs: opts.timeoutMs ?? 1500,
    runAs: await readEvaluationUser(),
    // bash's working directory under root: processesOf tells this test's processes by it
    scratchParentDir: root,
  })
  evaluators.push(evaluator)
  const index = createOverlayIndex(openDirTree(overlayDir, 'hostile', 'test'))
  const run = async (name: string) => {
    const [ebuild] = await index.ebuilds('app-misc', name)
    return evaluator(index, ebuild!)
  }
  return { root, index, evaluator, run }
}

async function failureOf(p: Promise<unknown>): Promise<OlmError> {
  const err = await p.then(() => null, (e: unknown) => e)
  if (!isOlmError(err, 'METADATA_INVALID')) throw new Error(`expected METADATA_INVALID, got ${String(err)}`)
  return err
}

const GOOD = 'DESCRIPTION="fine"'

/**
 * Live (not zombie) processes owned by uid working under dir: what this
 * test's evaluations would still have running. By working directory, as other
 * test files evaluate ebuilds as the same user at the same time.
 */
function processesOf(uid: number, dir: string): number {
  let count = 0
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (statSync(`/proc/${pid}`).uid !== uid) continue
      if (!readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) continue
      // killed processes stay zombies until init reaps them; they run no code
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]
      if (state !== 'Z') count++
    } catch {
      // the process ended while being looked at
    }
  }
  return count
}

describe('hostile ebuilds', () => {
  it('an endless loop times out, is named, and the other ebuilds still evaluate', async () => {
    const { run } = await setup({ spin: 'while :; do :; done', good: GOOD })
    const started = Date.now()
    const [spin, good] = await Promise.all([failureOf(run('spin')), run('good')])
    expect(spin.message).toMatch(/app-misc\/spin-1 in ::hostile: timed out/)
    expect(spin.context).toMatchObject({ overlay: 'hostile', file: 'app-misc/spin/spin-1.ebuild', package: 'app-misc/spin' })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(good.keys.get('DESCRIPTION')).toBe('fine')
  })

  it('a fork bomb is contained: the evaluation fails, nothing is left running, the worker goes on', async () => {
    const user = await readEvaluationUser()
    const uid = user?.uid ?? process.getuid!()
    const { root, run } = await setup(
      { bomb: 'bomb() { bomb | bomb; }; bomb', detached: 'bomb() { bomb | bomb & }; bomb', good: GOOD },
      { jobs: 1, timeoutMs: 3000 },
    )
    const err = await failureOf(run('bomb'))
    expect(err.message).toMatch(/app-misc\/bomb-1 in ::hostile: /)
    // a bomb that backgrounds itself lets the ebuild finish; its process group is killed after it
    await run('detached').catch(() => null)
    expect((await run('good')).keys.get('DESCRIPTION')).toBe('fine')
    const dir = realpathSync(root)
    expect(processesOf(uid, dir)).toBeGreaterThanOrEqual(1) // the worker that just answered: processesOf sees this test's processes
    // The one idle worker may remain. Killed processes take a moment to go on a busy machine.
    for (const deadline = Date.now() + 5000; processesOf(uid, dir) > 1 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100))
    expect(processesOf(uid, dir)).toBeLessThanOrEqual(1)
  })

  it('a write outside the scratch directory does not happen', async () => {
    const root = await testDir('olm-target-')
    const target = path.join(root, 'pwned')
    const tmpTarget = path.join('/tmp', `olm-pwned-${process.pid}-${Date.now()}`)
    const { run } = await setup({
      writer: `echo owned > ${target}`,
      appender: `printf 'x%.0s' {1..100} >> ${target}`,
      tmpwriter: `echo owned > ${tmpTarget}`,
    })
    // refused (permission denied: the ebuild goes on) or stopped: either way nothing is written
    await run('writer').catch(() => null)
    await run('appender').catch(() => null)
    expect(existsSync(target)).toBe(false)
    // a world-writable directory may get an empty file at most: writing data stops the evaluation
    expect((await failureOf(run('tmpwriter'))).message).toMatch(/tmpwriter-1 in ::hostile: tried to write to a file/)
    if (existsSync(tmpTarget)) {
      expect(statSync(tmpTarget).size).toBe(0)
      rmSync(tmpTarget)
    }
  })

  it('the caller’s environment is not visible to the ebuild', async () => {
    process.env.OLM_TEST_SECRET = 's3cret-value'
    try {
      const { run } = await setup({
        env: 'DESCRIPTION="secret=${OLM_TEST_SECRET:-none} path=${PATH} home=${HOME}"',
        peek: `DESCRIPTION="$(< /proc/${process.pid}/environ)"`,
      })
      const env = await run('env')
      expect(env.keys.get('DESCRIPTION')).toBe('secret=none path=/dev/null home=/var/tmp/portage/app-misc/env-1/homedir')
      const peek = await run('peek').then((e) => e.keys.get('DESCRIPTION') ?? '', () => '')
      if (process.getuid!() === 0) expect(peek).not.toContain('s3cret-value')
    } finally {
      delete process.env.OLM_TEST_SECRET
    }
  })

  it.each([
    ['ls', 'DESCRIPTION="$(ls /)"', /External commands disallowed.*ls/],
    ['uname', 'uname -a', /External commands disallowed.*uname/],
    ['die', 'die "not today"', /died: not today/],
    ['use', 'use doc && IUSE=doc', /use\(\) calls are not allowed in global scope/],
    ['hasq', 'hasq a a b', /External commands disallowed.*hasq/],
    ['exit', 'exit 0', /stopped before its metadata was complete/],
    ['inherit', 'inherit no-such-eclass', /eclass no-such-eclass not found/],
    ['eapi', 'EAPI=7', /EAPI changed while sourcing/],
    ['glob', 'x=( /nonexistent-* )', /stopped before its metadata was complete|no match/],
  ])('%s in global scope is reported', async (name, body, message) => {
    const { run } = await setup({ [name]: body })
    const err = await failureOf(run(name))
    expect(err.message).toMatch(message)
    expect(err.context).toMatchObject({ overlay: 'hostile', file: `app-misc/${name}/${name}-1.ebuild` })
  })
})
