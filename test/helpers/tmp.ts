import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { onTestFinished } from 'vitest'

/** A fresh empty directory, removed when the current test finishes. Call inside a test. */
export async function testDir(prefix = 'olm-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Like testDir, for suites: the caller removes it (in afterAll) with removeDir. */
export async function suiteDir(prefix = 'olm-suite-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
