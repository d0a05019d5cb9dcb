// Preloaded into olm (node --import) by the crash-safety tests only; never
// part of olm itself. Counts every node:fs/promises call (and every call on a
// FileHandle it opened) and, with OLM_TEST_SIGKILL_AT_FS_CALL=n, sends the
// process SIGKILL right before the nth call: a crash at an exact, repeatable
// point of fetch, resolve, write or publish, with no timing involved.
// OLM_TEST_FAIL_AT_WRITE=n:CODE makes the nth writing call outside
// OLM_TEST_FAIL_OUTSIDE (a path prefix, e.g. the cache) fail with errno CODE
// (ENOSPC, EIO): a full or dying disk at an exact point.
// OLM_TEST_FS_TRACE=file appends one "n op path" line per call, so a test
// can see how many calls a whole run makes and which phase each one is in.
import { appendFileSync } from 'node:fs'
import fsp from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'

const killAt = Number(process.env.OLM_TEST_SIGKILL_AT_FS_CALL ?? 0)
const trace = process.env.OLM_TEST_FS_TRACE
let calls = 0
const [failAt, failCode] = (process.env.OLM_TEST_FAIL_AT_WRITE ?? '0:EIO').split(':')
const spared = process.env.OLM_TEST_FAIL_OUTSIDE ?? '\0'
let writes = 0
const WRITE_OPS = new Set(['writeFile', 'appendFile', 'rename', 'mkdir', 'mkdtemp', 'symlink', 'link', 'chmod', 'rm', 'unlink', 'copyFile', 'fh.writeFile', 'fh.write', 'fh.sync', 'fh.datasync', 'fh.chmod'])

function maybeFail(op, arg, flags) {
  const writing = WRITE_OPS.has(op) || (op === 'open' && /[wax+]/.test(String(flags ?? 'r')))
  if (!writing || (typeof arg === 'string' && arg.startsWith(spared))) return
  if (++writes === Number(failAt)) throw Object.assign(new Error(`${failCode}: injected fault, ${op} '${arg}'`), { code: failCode, syscall: op, path: arg })
}

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
    fh[op] = async function (...args) {
      tick(`fh.${op}`, file)
      maybeFail(`fh.${op}`, file)
      return real.apply(fh, args)
    }
  }
  return fh
}

for (const [op, real] of Object.entries(fsp)) {
  if (typeof real !== 'function' || op === 'constants' || op === 'watch') continue
  fsp[op] = async function (...args) {
    tick(op, args[0])
    maybeFail(op, args[0], args[1])
    const out = await real.apply(fsp, args)
    return op === 'open' ? wrapHandle(out, args[0]) : out
  }
}
syncBuiltinESMExports()

/** How many writing calls this run made (outside the spared prefix), on stderr at exit when asked. */
if (process.env.OLM_TEST_COUNT_WRITES) process.on('exit', () => process.stderr.write(`olm-test-writes ${writes}\n`))
