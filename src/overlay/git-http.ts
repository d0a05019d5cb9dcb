import http from 'node:http'
import https from 'node:https'
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git'

/**
 * The HTTP client the git source hands to isomorphic-git and uses for its own
 * upload-pack request: node:http/https with an AbortSignal, an inactivity
 * timeout (a stalled server fails instead of hanging) and byte counting on the
 * response body (isomorphic-git reports nothing while a pack downloads).
 */
export interface HttpClientOptions {
  signal?: AbortSignal
  /** Fails a request when no byte arrives for this long (default 60 s). */
  timeoutMs?: number
  /** Called with the running total of response body bytes of this client. */
  onBytes?: (loaded: number) => void
  /** Largest response body accepted (default 4 GiB): a server cannot fill the disk. */
  maxBytes?: number
}

export interface CountingHttpClient extends HttpClient {
  /** Response body bytes received so far through this client. */
  bytes(): number
}

/** Thrown for network-level failures; `code` is 'ETIMEDOUT', 'ABORT_ERR' or the socket error code. */
export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError'
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

const MAX_REDIRECTS = 5
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3
/** Why a response's socket was destroyed by the inactivity timer: the body error then says so. */
const stalls = new WeakMap<http.IncomingMessage, HttpTransportError>()

export function createHttpClient(opts: HttpClientOptions = {}): CountingHttpClient {
  let received = 0
  const count = (n: number) => {
    received += n
    opts.onBytes?.(received)
  }
  const request = async (req: GitHttpRequest): Promise<GitHttpResponse> => {
    const body = req.body ? await collect(req.body) : undefined
    let url = req.url
    for (let hop = 0; ; hop++) {
      const res = await send(url, { ...req, body }, opts)
      const location = res.headers.location
      if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && location && hop < MAX_REDIRECTS) {
        res.resume()
        url = redirectTarget(url, location)
        continue
      }
      return {
        url,
        method: req.method ?? 'GET',
        statusCode: res.statusCode ?? 0,
        statusMessage: res.statusMessage ?? '',
        headers: flatHeaders(res.headers),
        body: bodyOf(res, countBody(res, count, opts.maxBytes ?? DEFAULT_MAX_BYTES)),
      }
    }
  }
  return { request, bytes: () => received }
}

type SendRequest = Omit<GitHttpRequest, 'body'> & { body: Buffer | undefined }

function send(url: string, req: SendRequest, opts: HttpClientOptions): Promise<http.IncomingMessage> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http
    const headers: Record<string, string | number> = { 'user-agent': 'git/olm', ...req.headers }
    if (req.body) headers['content-length'] = req.body.length
    // TLS verification is always on, whatever NODE_TLS_REJECT_UNAUTHORIZED says.
    const cr = lib.request(url, { method: req.method ?? 'GET', headers, signal: opts.signal, rejectUnauthorized: true }, resolve)
    // The socket timeout keeps running while the body streams, so it also catches a mid-pack stall.
    cr.setTimeout(timeoutMs, () => {
      const stall = new HttpTransportError('ETIMEDOUT', `no data from ${url} for ${timeoutMs} ms`)
      const res = (cr as unknown as { res?: http.IncomingMessage }).res
      if (res) stalls.set(res, stall)
      cr.destroy(stall)
    })
    cr.on('error', (err) => reject(transportError(err, url)))
    cr.end(req.body)
  })
}

/**
 * The body as an iterator whose return() lets the response go even before
 * the first read. A response nobody reads (an error status) keeps its
 * socket, and the socket keeps olm running until the server hangs up: a
 * failed sync took 6 s more against the test server, as long as a server's
 * keep-alive elsewhere.
 */
function bodyOf(res: http.IncomingMessage, chunks: AsyncGenerator<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  return {
    next: () => chunks.next(),
    return: (value?: unknown) => {
      res.destroy()
      return chunks.return(value)
    },
    throw: (err?: unknown) => chunks.throw(err),
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

async function* countBody(res: http.IncomingMessage, count: (n: number) => void, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0
  try {
    for await (const chunk of res) {
      total += (chunk as Buffer).length
      if (total > maxBytes) {
        res.destroy()
        throw new HttpTransportError('EFBIG', `response larger than ${maxBytes} bytes`)
      }
      count((chunk as Buffer).length)
      yield chunk as Buffer
    }
  } catch (err) {
    throw stalls.get(res) ?? transportError(err, res.url ?? '')
  }
  // A reset after the headers can end the stream without an error event; `complete` tells the two apart.
  if (!res.complete) throw new HttpTransportError('ECONNRESET', 'connection closed before the response was complete')
}

/** Redirects are followed to http(s) only: a server must not send olm to file://, ftp:// or ext::. */
function redirectTarget(from: string, location: string): string {
  const to = new URL(location, from)
  if (to.protocol !== 'http:' && to.protocol !== 'https:')
    throw new HttpTransportError('EPROTO', `refusing the redirect from ${from} to ${to.protocol}//…: only http and https are followed`)
  return to.toString()
}

function transportError(err: unknown, url: string): HttpTransportError {
  if (err instanceof HttpTransportError) return err
  const e = err as NodeJS.ErrnoException
  if (e?.name === 'AbortError') return new HttpTransportError('ABORT_ERR', 'request cancelled', { cause: err })
  return new HttpTransportError(e?.code ?? 'EIO', `${e?.message ?? String(err)}${url ? ` (${url})` : ''}`, {
    cause: err,
  })
}

async function collect(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of body) parts.push(Buffer.from(part))
  return Buffer.concat(parts)
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}
