// Preloaded into olm (node --import) by the crash-safety tests only; never
// part of olm itself. Counts every node:fs/promises call (and every call on a
// FileHandle it opened) and, with OLM_TEST_SIGKILL_AT_FS_CALL=n, sends the
// process SIGKILL right before the nth call: a crash at an exact, repeatable
// point of fetch, resolve, write or publish, with no timing involved.
// OLM_TEST_FS_TRACE=file appends one "n op path" line per call, so a test
// can see how many calls a whole run makes and which phase each one is in.
import { appendFileSync } from 'node:fs'
import fsp from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'

const killAt = Number(process.env.OLM_TEST_SIGKILL_AT_FS_CALL ?? 0)
const trace = process.env.OLM_TEST_FS_TRACE
let calls = 0

function tick(op, arg) {
  calls++
  if (trace) appendFileSync(trace, `${calls} ${op} ${typeof arg === 'string' ? arg : ''}\n`)
  if (calls === killAt) process.kill(process.pid, 'SIGKILL')
}

const HANDLE_OPS = ['writeFile', 'write', 'sync', 'datasync', 'chmod', 'close', 'readFile', 'read', 'stat']

function wrapHandle(fh, file) {
  for (const op of HANDLE_OPS) {
    const real = fh[op]
    if (typeof real !== 'function') continue
    fh[op] = function (...args) {
      tick(`fh.${op}`, file)
      return real.apply(fh, args)
    }
  }
  return fh
}

for (const [op, real] of Object.entries(fsp)) {
  if (typeof real !== 'function' || op === 'constants' || op === 'watch') continue
  fsp[op] = async function (...args) {
    tick(op, args[0])
    const out = await real.apply(fsp, args)
    return op === 'open' ? wrapHandle(out, args[0]) : out
  }
}
syncBuiltinESMExports()
