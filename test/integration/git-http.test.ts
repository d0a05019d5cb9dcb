/**
 * A response olm refuses without reading (an error status, a server that is
 * not a git server) must let its connection go: an unread response keeps its
 * socket, and the socket kept a failed `olm sync` running until the server
 * hung up (6 s against the test server; a keep-alive's length elsewhere).
 * The server here keeps idle connections for two minutes, so only the
 * client's hanging up ends them within the test's time.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createHttpClient } from '../../src/overlay/git-http.js'
import { discoverRefs, requestPack } from '../../src/overlay/git-wire.js'

const servers: http.Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** A server answering every request with `status`, `type` and a body; `closed` resolves when the client hangs up. */
async function server(status: number, type: string) {
  let hungUp!: () => void
  const closed = new Promise<void>((r) => (hungUp = r))
  const s = http.createServer((req, res) => {
    req.resume()
    res.writeHead(status, { 'content-type': type })
    res.end('x'.repeat(64 * 1024)) // more than a socket buffer: the client has something left unread
  })
  s.keepAliveTimeout = 120_000
  s.on('connection', (socket) => socket.on('close', hungUp))
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/overlay.git`, closed }
}

describe('an unread response lets its connection go', () => {
  it('after a 404 on the ref advertisement', { timeout: 20_000 }, async () => {
    const { url, closed } = await server(404, 'text/plain')
    await expect(discoverRefs(createHttpClient(), url)).rejects.toThrow(/HTTP 404/)
    await closed
  })

  it('after a server that is not a git server', { timeout: 20_000 }, async () => {
    const { url, closed } = await server(200, 'text/html')
    await expect(discoverRefs(createHttpClient(), url)).rejects.toThrow(/not a smart HTTP git server/)
    await closed
  })

  it('after a 500 from upload-pack', { timeout: 20_000 }, async () => {
    const { url, closed } = await server(500, 'text/plain')
    const req = { url, want: '1'.repeat(40), haves: [], shallows: [], serverCaps: { shallow: true as const } }
    await expect(requestPack(createHttpClient(), req, () => {})).rejects.toThrow(/HTTP 500/)
    await closed
  })
})
