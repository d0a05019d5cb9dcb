import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { PRELUDE } from '../../../src/metadata/prelude.js'

const harness = new URL('../../../src/metadata/harness.sh', import.meta.url)

describe('the embedded harness', () => {
  it('is harness.sh as it is now (run node src/metadata/gen-prelude.mjs after editing it)', () => {
    expect(PRELUDE).toBe(readFileSync(harness, 'utf8'))
  })

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n'], { input: PRELUDE })).not.toThrow()
  })
})
