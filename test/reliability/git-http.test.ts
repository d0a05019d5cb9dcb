import { execFileSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runOlm } from '../helpers/olm.js'
import { configState, makeRoot, publishedTree } from '../helpers/reliability-system.js'
import { removeDir, suiteDir } from '../helpers/tmp.js'

/**
 * The git source's http client (src/overlay/git-http.ts, separate from the
 * tarball client src/overlay/http.ts) through olm sync: certificate, DNS and
 * redirect failures are clear errors naming the overlay and URL, exit 1, and
 * nothing is written.
 */
let work: string
let tlsUrl: string
let redirectUrl: string
const servers: (http.Server | https.Server)[] = []

beforeAll(async () => {
  work = await suiteDir('olm-githttp-')
  const [key, cert] = [path.join(work, 'key.pem'), path.join(work, 'cert.pem')]
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const tls = https.createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.end('not git\n'))
  const redirect = http.createServer((req, res) => res.writeHead(302, { location: req.url?.includes('ftp') ? 'ftp://127.0.0.1/x.git' : 'file:///etc/passwd' }).end())
  for (const s of [tls, redirect]) {
    await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
    servers.push(s)
  }
  tlsUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`
  redirectUrl = `http://127.0.0.1:${(redirect.address() as AddressInfo).port}`
})
afterAll(async () => {
  for (const s of servers) s.closeAllConnections?.(), s.close()
  if (work) await removeDir(work)
})

let n = 0
async function syncFrom(uri: string, env: Record<string, string> = {}) {
  const root = path.join(work, `root${n++}`)
  await makeRoot(root, { serverUrl: 'http://127.0.0.1:1', overlays: {} })
  const { writeFile, mkdir } = await import('node:fs/promises')
  await writeFile(path.join(root, 'etc/overlayman/overlays.d/remote.conf'), `[remote]\nsync-uri = ${uri}\n`)
  await mkdir(path.join(root, 'etc/overlayman/packages.d'))
  await writeFile(path.join(root, 'etc/overlayman/packages.d/mine.conf'), 'app-misc/foo::remote\n')
  const config = await configState(root)
  const r = await runOlm(['sync', '--root', root], { env: { OLM_TEST_HTTP_STALL_MS: '5000', ...env } })
  expect(r.code).toBe(1)
  expect(r.stderr).toContain(uri)
  expect(await publishedTree(path.join(root, 'var/db/repos/overlayman'))).toBeNull()
  expect(await configState(root)).toEqual(config)
  return r
}

describe.concurrent('the git http client through olm sync', () => {
  it('refuses a self-signed certificate', async () => {
    const r = await syncFrom(`${tlsUrl}/x.git`)
    expect(r.stderr).toMatch(/self[- ]signed certificate|DEPTH_ZERO_SELF_SIGNED_CERT/i)
  })

  // Known gap (reported): git-http.ts passes no rejectUnauthorized, so this
  // environment variable turns verification off for git overlays, unlike http.ts.
  it('refuses a self-signed certificate even under NODE_TLS_REJECT_UNAUTHORIZED=0', async () => {
    const r = await syncFrom(`${tlsUrl}/x.git`, { NODE_TLS_REJECT_UNAUTHORIZED: '0' })
    expect(r.stderr).toMatch(/self[- ]signed certificate|DEPTH_ZERO_SELF_SIGNED_CERT/i)
  })

  it('names a host that does not resolve', async () => {
    const r = await syncFrom('https://olm-test-host.invalid/x.git')
    expect(r.stderr).toMatch(/ENOTFOUND|EAI_AGAIN|olm-test-host\.invalid/)
  })

  it.each([['file:///etc/passwd', '/a.git'], ['ftp://', '/ftp.git']])('does not follow a redirect to %s', async (_target, p) => {
    const r = await syncFrom(`${redirectUrl}${p}`)
    expect(r.stderr).not.toMatch(/internal error/)
    expect(r.stderr).toMatch(/refusing the redirect from .* only http and https are followed/)
  })
})
