import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

/**
 * A loopback http server for download tests: each path answers with a file
 * (with ETag / Last-Modified and conditional 304s) or with a fault.
 */
export type Route =
  | { kind: 'file'; body: Buffer | string; etag?: string; lastModified?: string; chunked?: boolean }
  | { kind: 'status'; status: number }
  | { kind: 'redirect'; location: string; status?: number }
  /** Announces the full length, sends `afterBytes`, then ends the connection cleanly. */
  | { kind: 'truncate'; body: Buffer; afterBytes: number }
  /** Sends `afterBytes`, then resets the TCP connection. */
  | { kind: 'reset'; body: Buffer; afterBytes: number }
  /** Sends `afterBytes`, then nothing, keeping the connection open. */
  | { kind: 'stall'; body: Buffer; afterBytes: number }

export interface StaticServer {
  url: string
  set(path: string, route: Route): void
  /** Every request seen, in order. */
  requests: { path: string; headers: http.IncomingHttpHeaders }[]
  close(): Promise<void>
}

/** `tls`: serve https with this key and certificate (PEM) instead of http. */
export async function startStaticServer(opts: { tls?: { key: string; cert: string } } = {}): Promise<StaticServer> {
  const routes = new Map<string, Route>()
  const requests: StaticServer['requests'] = []
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    requests.push({ path, headers: req.headers })
    const route = routes.get(path)
    if (!route) {
      res.writeHead(404).end('not found')
      return
    }
    answer(route, req, res)
  }
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler)
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    set: (path, route) => void routes.set(path, route),
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  }
}

function answer(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
  switch (route.kind) {
    case 'file':
      return serveFile(route, req, res)
    case 'status':
      res.writeHead(route.status).end(`status ${route.status}`)
      return
    case 'redirect':
      res.writeHead(route.status ?? 302, { location: route.location }).end()
      return
    case 'truncate':
    case 'reset':
    case 'stall':
      res.writeHead(200, { 'content-length': route.body.length })
      res.write(route.body.subarray(0, route.afterBytes), () => {
        if (route.kind === 'truncate') res.socket?.end()
        if (route.kind === 'reset') res.socket?.resetAndDestroy()
      })
  }
}

function serveFile(route: Extract<Route, { kind: 'file' }>, req: http.IncomingMessage, res: http.ServerResponse): void {
  const headers: http.OutgoingHttpHeaders = {}
  if (route.etag) headers.etag = route.etag
  if (route.lastModified) headers['last-modified'] = route.lastModified
  const notModified =
    (route.etag !== undefined && req.headers['if-none-match'] === route.etag) ||
    (route.lastModified !== undefined && req.headers['if-modified-since'] === route.lastModified)
  if (notModified) {
    res.writeHead(304, headers).end()
    return
  }
  const body = Buffer.from(route.body)
  if (!route.chunked) headers['content-length'] = body.length
  res.writeHead(200, headers)
  res.end(body)
}
