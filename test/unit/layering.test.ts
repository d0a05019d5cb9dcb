import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../../src', import.meta.url))
// Pure layers (style.md): no file system, processes or network; node:crypto is computation.
const PURE = ['pms', 'resolve', 'repo/plan.ts', 'repo/profiles-text.ts']
const IO_MODULES = /from ['"](node:)?(fs|fs\/promises|child_process|http|https|net|dgram|worker_threads)['"]/

async function tsFiles(rel: string): Promise<string[]> {
  const abs = path.join(SRC, rel)
  if (rel.endsWith('.ts')) return [abs]
  return (await readdir(abs, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => path.join(abs, f))
}

describe('layering', () => {
  it.each(PURE)('src/%s does no I/O of its own', async (rel) => {
    const files = await tsFiles(rel)
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) expect([path.relative(SRC, file), IO_MODULES.test(await readFile(file, 'utf8'))]).toEqual([path.relative(SRC, file), false])
  })

  it('the library core does not depend on the CLI', async () => {
    for (const dir of ['pms', 'resolve', 'repo', 'core', 'config', 'overlay', 'local'])
      for (const file of await tsFiles(dir)) expect([file, /from ['"][./]*cli\//.test(await readFile(file, 'utf8'))]).toEqual([file, false])
  })
})
