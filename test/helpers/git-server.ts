import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, statSync, createReadStream } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

/**
 * A loopback HTTP server in front of the system's `git http-backend` (smart
 * HTTP, Git-Protocol passed through), also serving static files, with fault
 * injection per path prefix. Only node builtins here: bench/fetch.mjs reuses it.
 */
export type Fault =
  /** Sends afterBytes of the body, then resets the TCP connection. */
  | { kind: 'reset'; afterBytes: number }
  /** Ends the response cleanly at the first pkt-line boundary at or after afterBytes. */
  | { kind: 'truncate'; afterBytes: number }
  /** Flips one byte of pack data (sideband 1) at or after afterBytes. */
  | { kind: 'corrupt'; afterBytes: number }
  | { kind: 'status'; status: number }
  /** Sends afterBytes (default 0) of the body, then nothing, never ending. */
  | { kind: 'stall'; afterBytes?: number }

export interface RequestRecord {
  method: string
  path: string
  status: number
  bytes: number
}

export interface GitServer {
  url: string
  close(): Promise<void>
  setFault(pathPrefix: string, fault: Fault | null): void
  /** Response body bytes sent since start or the last resetCounters. */
  bytesSent(): number
  requests(): RequestRecord[]
  resetCounters(): void
}

/** null when git http-backend is usable, else why not (for describe.skipIf messages). */
export function gitHttpBackendMissing(): string | null {
  try {
    const execPath = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim()
    if (existsSync(path.join(execPath, 'git-http-backend'))) return null
    return `git-http-backend not found in ${execPath}`
  } catch (err) {
    return `git not runnable: ${(err as Error).message}`
  }
}

export async function startGitServer(opts: { root: string; staticDir?: string }): Promise<GitServer> {
  const faults = new Map<string, Fault>()
  let log: RequestRecord[] = []
  const server = http.createServer((req, res) => {
    const { pathname, search } = new URL(req.url ?? '/', 'http://x')
    const record: RequestRecord = { method: req.method ?? 'GET', path: pathname, status: 0, bytes: 0 }
    log.push(record)
    const fault = faultFor(faults, pathname)
    if (fault?.kind === 'status') {
      record.status = fault.status
      res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`injected ${fault.status}\n`)
      return
    }
    const file = opts.staticDir ? staticFile(opts.staticDir, pathname) : null
    const body = new FaultyBody(res, record, fault, file === null)
    if (file) serveStatic(file, res, body)
    else serveGit({ root: opts.root, pathname, query: search.slice(1) }, req, res, body)
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
    setFault: (prefix, fault) => void (fault ? faults.set(prefix, fault) : faults.delete(prefix)),
    bytesSent: () => log.reduce((sum, r) => sum + r.bytes, 0),
    requests: () => [...log],
    resetCounters: () => void (log = []),
  }
}

function faultFor(faults: Map<string, Fault>, pathname: string): Fault | undefined {
  let best: string | undefined
  for (const prefix of faults.keys())
    if (pathname.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix
  return best === undefined ? undefined : faults.get(best)
}

function staticFile(staticDir: string, pathname: string): string | null {
  const file = path.join(staticDir, decodeURIComponent(pathname))
  if (!file.startsWith(path.resolve(staticDir) + path.sep)) return null
  return existsSync(file) && statSync(file).isFile() ? file : null
}

function serveStatic(file: string, res: http.ServerResponse, body: FaultyBody): void {
  body.record.status = 200
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size })
  const stream = createReadStream(file)
  stream.on('data', (chunk) => body.write(chunk as Buffer, () => stream.destroy()))
  stream.on('end', () => body.end())
}

function serveGit(
  where: { root: string; pathname: string; query: string },
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: FaultyBody,
): void {
  const header = (name: string) => String(req.headers[name] ?? '')
  const cgi = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_PROJECT_ROOT: where.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: where.pathname,
      QUERY_STRING: where.query,
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: header('content-type'),
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: header('content-length') } : {}),
      HTTP_CONTENT_ENCODING: header('content-encoding'),
      GIT_PROTOCOL: header('git-protocol'),
      REMOTE_ADDR: '127.0.0.1',
    },
  })
  req.pipe(cgi.stdin)
  cgi.stdin.on('error', () => {})
  res.on('close', () => cgi.kill())
  pipeCgiResponse(cgi, res, body)
}

/** Splits CGI output at the first blank line, maps `Status:`, streams the rest through the fault filter. */
function pipeCgiResponse(cgi: ChildProcess, res: http.ServerResponse, body: FaultyBody): void {
  let head: Buffer | null = Buffer.alloc(0)
  cgi.stdout!.on('data', (chunk: Buffer) => {
    if (head === null) return body.write(chunk, () => cgi.kill())
    head = Buffer.concat([head, chunk])
    const split = findHeaderEnd(head)
    if (!split) return
    const headers: Record<string, string> = {}
    let status = 200
    for (const line of head.subarray(0, split.at).toString('latin1').split(/\r?\n/)) {
      const m = /^([^:]+):\s*(.*)$/.exec(line)
      if (!m) continue
      if (m[1]!.toLowerCase() === 'status') status = parseInt(m[2]!, 10)
      else headers[m[1]!] = m[2]!
    }
    const rest = head.subarray(split.at + split.len)
    head = null
    body.record.status = status
    res.writeHead(status, headers)
    if (rest.length) body.write(rest, () => cgi.kill())
  })
  cgi.stdout!.on('end', () => {
    if (head !== null && !res.headersSent) res.writeHead(502).end('bad CGI output\n')
    else body.end()
  })
}

function findHeaderEnd(buf: Buffer): { at: number; len: number } | null {
  const crlf = buf.indexOf('\r\n\r\n')
  const lf = buf.indexOf('\n\n')
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, len: 4 }
  return lf >= 0 ? { at: lf, len: 2 } : null
}

/** Writes a response body, counting bytes and applying the fault, tracking pkt-line framing. */
class FaultyBody {
  private sent = 0
  private stopped = false
  private pktHeader = ''
  private pktLeft = 0
  private pktPos = 0
  private band = -1
  private corrupted = false

  constructor(
    private readonly res: http.ServerResponse,
    readonly record: RequestRecord,
    private readonly fault: Fault | undefined,
    /** git responses are pkt-line framed; static files are not (faults then act on raw bytes). */
    private readonly framed = true,
  ) {}

  /** onStop runs once when the fault ends the stream (so the producer can stop). */
  write(chunk: Buffer, onStop: () => void): void {
    if (this.stopped) return
    const f = this.fault
    let cut = chunk.length
    const rawCut = f && f.kind !== 'status' && (f.kind === 'reset' || f.kind === 'stall' || !this.framed)
    if (rawCut && f.kind !== 'corrupt') cut = Math.min(cut, Math.max(0, (f.afterBytes ?? 0) - this.sent))
    else if (rawCut) this.corruptRaw(chunk, f.afterBytes ?? 0)
    else if (f?.kind === 'truncate' || f?.kind === 'corrupt') cut = this.scanPkts(chunk, f)
    this.emit(chunk.subarray(0, cut))
    if (cut === chunk.length) return
    this.stopped = true
    onStop()
    if (f?.kind === 'reset') this.res.write(Buffer.alloc(0), () => this.res.socket?.resetAndDestroy())
    else if (f?.kind === 'truncate') this.res.end()
  }

  end(): void {
    if (!this.stopped) this.res.end()
  }

  private emit(part: Buffer): void {
    if (part.length === 0) return
    this.sent += part.length
    this.record.bytes += part.length
    this.res.write(part)
  }

  private corruptRaw(chunk: Buffer, afterBytes: number): void {
    const i = afterBytes - this.sent
    if (this.corrupted || i < 0 || i >= chunk.length) return
    chunk[i] = chunk[i]! ^ 0xff
    this.corrupted = true
  }

  /** Walks pkt-line framing; returns where to cut (truncate) or chunk.length, corrupting in place. */
  private scanPkts(chunk: Buffer, f: { kind: 'truncate' | 'corrupt'; afterBytes: number }): number {
    for (let i = 0; i < chunk.length; ) {
      const abs = this.sent + i
      if (this.pktLeft === 0) {
        if (f.kind === 'truncate' && this.pktHeader === '' && abs >= f.afterBytes) return i
        this.pktHeader += String.fromCharCode(chunk[i++]!)
        if (this.pktHeader.length === 4) {
          const len = parseInt(this.pktHeader, 16)
          this.pktHeader = ''
          this.pktLeft = len > 4 ? len - 4 : 0
          this.pktPos = 0
        }
        continue
      }
      if (this.pktPos === 0) this.band = chunk[i]!
      else if (f.kind === 'corrupt' && !this.corrupted && this.band === 1 && abs >= f.afterBytes) {
        chunk[i] = chunk[i]! ^ 0xff
        this.corrupted = true
      }
      i++
      this.pktLeft--
      this.pktPos++
    }
    return chunk.length
  }
}
