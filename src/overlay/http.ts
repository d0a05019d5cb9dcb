import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { OlmError } from '../errors.js'

/**
 * The one http client of olm for plain downloads (tarballs, repositories.xml).
 *
 * Guarantees: TLS certificates are always verified (there is no option to turn
 * that off); redirects are followed only to http(s) URLs, at most 5 times;
 * a response larger than `maxBytes` is cut off with an error; a server that
 * sends nothing for `stallMs` or takes longer than `timeoutMs` overall fails
 * with SOURCE_UNREACHABLE. Cancelling through `signal` rejects with the
 * signal's reason (an AbortError), untouched, so callers can tell a user's
 * Ctrl-C from a network failure.
 */
export interface HttpGetOptions {
  signal?: AbortSignal
  /** Whole request, headers and body, in ms. Default: none. */
  timeoutMs?: number
  /** Longest silence (no headers, no body bytes) in ms. Default 30 s. */
  stallMs?: number
  /** Largest body accepted. Default 1 GiB. */
  maxBytes?: number
  /** Extra request headers (If-None-Match, ...). */
  headers?: Record<string, string>
  onProgress?: (loaded: number, total?: number) => void
}

export interface HttpResponse {
  /** 2xx, or 304 when a conditional request found nothing new. */
  status: number
  /** The URL that answered, after redirects. */
  url: string
  headers: http.IncomingHttpHeaders
  /** Must be consumed or destroyed by the caller; errors on it are OlmErrors (or the abort reason). */
  body: Readable
}

const MAX_REDIRECTS = 5
const DEFAULT_STALL_MS = 30_000
const DEFAULT_MAX_BYTES = 1024 ** 3
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** GET `url`. Resolves once the headers of the final (non-redirect) response are in. */
export async function httpGet(url: string, opts: HttpGetOptions = {}): Promise<HttpResponse> {
  const guard = new RequestGuard(url, opts)
  try {
    let current = url
    for (let hop = 0; ; hop++) {
      const res = await guard.request(current)
      const status = res.statusCode ?? 0
      if (REDIRECTS.has(status) && res.headers.location !== undefined) {
        res.resume()
        if (hop >= MAX_REDIRECTS)
          throw new OlmError('FETCH_FAILED', `too many redirects fetching ${url}`, { url })
        current = redirectTarget(current, res.headers.location, url)
        continue
      }
      if (status >= 300 && status !== 304) {
        res.resume()
        throw new OlmError('FETCH_FAILED', `HTTP ${status} ${res.statusMessage ?? ''} from ${current}`.replace('  ', ' '), { url: current })
      }
      return { status, url: current, headers: res.headers, body: guard.wrapBody(res, current) }
    }
  } catch (err) {
    guard.dispose()
    throw guard.translate(err)
  }
}

/**
 * Downloads `url` into `file` (created or truncated). On any failure the
 * partial file is removed. A 304 answer writes nothing.
 */
export async function fetchToFile(
  url: string,
  file: string,
  opts: HttpGetOptions = {},
): Promise<{ status: number; url: string; headers: http.IncomingHttpHeaders }> {
  const res = await httpGet(url, opts)
  if (res.status === 304) {
    res.body.resume()
    return { status: res.status, url: res.url, headers: res.headers }
  }
  try {
    await pipeline(res.body, createWriteStream(file))
  } catch (err) {
    await rm(file, { force: true })
    throw err
  }
  return { status: res.status, url: res.url, headers: res.headers }
}

/** Reads a whole (small) response into memory; 304 gives null. */
export async function fetchBuffer(url: string, opts: HttpGetOptions = {}): Promise<{ body: Buffer | null; url: string; headers: http.IncomingHttpHeaders }> {
  const res = await httpGet(url, opts)
  const chunks: Buffer[] = []
  for await (const chunk of res.body) chunks.push(chunk as Buffer)
  return { body: res.status === 304 ? null : Buffer.concat(chunks), url: res.url, headers: res.headers }
}

/** Only http(s) URLs are ever fetched: a redirect elsewhere (file:, ftp:, data:) is refused. */
export function assertHttpUrl(raw: string, context: { overlay?: string; file?: string; line?: number } = {}): URL {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new OlmError('UNSAFE_PATH', `refusing "${raw}": not an http(s) URL`, { ...context, url: raw })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new OlmError('UNSAFE_PATH', `refusing "${raw}": only http and https URLs are supported`, { ...context, url: raw })
  return parsed
}

function redirectTarget(from: string, location: string, original: string): string {
  let target: string
  try {
    target = new URL(location, from).href
  } catch {
    throw new OlmError('FETCH_FAILED', `bad redirect "${location}" from ${from}`, { url: original })
  }
  if (!/^https?:$/.test(new URL(target).protocol))
    throw new OlmError('UNSAFE_PATH', `${from} redirects to "${target}": only http(s) redirects are followed`, { url: original })
  return target
}

type Failure = { kind: 'stall' | 'timeout' | 'too-big' | 'user'; detail?: string }

/**
 * Owns the timers and the abort controller of one httpGet, across redirects
 * and the body, and turns whatever went wrong into one clear OlmError.
 */
class RequestGuard {
  /** The request and response in flight; fail() destroys them. */
  private req: http.ClientRequest | undefined
  private res: http.IncomingMessage | undefined
  private failure: Failure | undefined
  private stallTimer: NodeJS.Timeout | undefined
  private readonly overallTimer: NodeJS.Timeout | undefined
  private readonly onUserAbort = () => this.fail({ kind: 'user' })

  constructor(
    private readonly url: string,
    private readonly opts: HttpGetOptions,
  ) {
    if (opts.signal?.aborted) this.fail({ kind: 'user' })
    opts.signal?.addEventListener('abort', this.onUserAbort, { once: true })
    if (opts.timeoutMs !== undefined)
      this.overallTimer = setTimeout(() => this.fail({ kind: 'timeout' }), opts.timeoutMs)
  }

  request(url: string): Promise<http.IncomingMessage> {
    const parsed = assertHttpUrl(url)
    const get = parsed.protocol === 'https:' ? https.get : http.get
    this.touch()
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(new Error('aborted'))
      const req = get(parsed, {
        // Explicit, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn verification off.
        rejectUnauthorized: true,
        headers: { 'user-agent': 'overlayman', 'accept-encoding': 'identity', ...this.opts.headers },
      })
      this.req = req
      req.on('response', (res) => {
        this.touch()
        this.res = res
        resolve(res)
      })
      req.on('error', reject)
    })
  }

  wrapBody(res: http.IncomingMessage, url: string): Readable {
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_BYTES
    const length = Number(res.headers['content-length'])
    const total = Number.isFinite(length) ? length : undefined
    if (total !== undefined && total > maxBytes) {
      res.destroy()
      this.dispose()
      throw new OlmError('FETCH_FAILED', `${url} is ${total} bytes, more than the ${maxBytes} allowed`, { url })
    }
    let loaded = 0
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        loaded += chunk.length
        this.touch()
        if (loaded > maxBytes) {
          this.fail({ kind: 'too-big', detail: String(maxBytes) })
          return done(this.translate(new Error('too big')) as Error)
        }
        this.opts.onProgress?.(loaded, total)
        done(null, chunk)
      },
    })
    res.on('error', (err) => counter.destroy(this.translate(err, loaded) as Error))
    // A body cut short by the server or by our own abort may end with 'close' alone.
    res.on('close', () => {
      if (!res.complete && !counter.destroyed) counter.destroy(this.translate(new Error('ECONNRESET'), loaded) as Error)
    })
    counter.on('close', () => this.dispose())
    res.pipe(counter)
    return counter
  }

  /** Restarts the stall clock: something arrived. */
  private touch(): void {
    clearTimeout(this.stallTimer)
    this.stallTimer = setTimeout(() => this.fail({ kind: 'stall' }), this.opts.stallMs ?? DEFAULT_STALL_MS)
  }

  private fail(failure: Failure): void {
    this.failure ??= failure
    this.res?.destroy()
    this.req?.destroy(new Error(failure.kind))
  }

  dispose(): void {
    clearTimeout(this.stallTimer)
    clearTimeout(this.overallTimer)
    this.opts.signal?.removeEventListener('abort', this.onUserAbort)
  }

  translate(err: unknown, loaded?: number): unknown {
    if (err instanceof OlmError) return err
    const url = this.url
    const after = loaded === undefined ? '' : ` after ${loaded} bytes`
    switch (this.failure?.kind) {
      case 'user':
        return this.opts.signal?.reason ?? err
      case 'stall':
        return new OlmError('SOURCE_UNREACHABLE', `${url} sent nothing for ${this.opts.stallMs ?? DEFAULT_STALL_MS} ms${after}`, { url }, { cause: err })
      case 'timeout':
        return new OlmError('SOURCE_UNREACHABLE', `${url} took longer than ${this.opts.timeoutMs} ms${after}`, { url }, { cause: err })
      case 'too-big':
        return new OlmError('FETCH_FAILED', `${url} is larger than the ${this.failure.detail} bytes allowed`, { url }, { cause: err })
    }
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    if (loaded !== undefined)
      return new OlmError('SOURCE_UNREACHABLE', `connection to ${url} lost${after} (${code})`, { url }, { cause: err })
    return new OlmError('SOURCE_UNREACHABLE', `cannot reach ${url}: ${code}`, { url }, { cause: err })
  }
}
