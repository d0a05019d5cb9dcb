import type { GitHttpResponse, HttpClient } from 'isomorphic-git'

/**
 * The one upload-pack exchange of a shallow fetch, written against the smart
 * HTTP protocol v1 (gitprotocol-pack, gitprotocol-http) because isomorphic-git
 * cannot ask for a thin pack and commits refs before the pack is complete.
 * Nothing here touches the cache: the pack bytes go to `onPack` as they
 * arrive (side-band 1), for verification and indexing while they download.
 */
export interface UploadPackRequest {
  url: string
  want: string
  /** Commits the cache has (its current commit), for a thin pack of the difference. */
  haves: string[]
  /** The cache's shallow boundary, so the server does not assume history we lack. */
  shallows: string[]
  /** Capabilities the server advertised; we only ask for ones it offers. */
  serverCaps: Record<string, string | true>
}

export interface UploadPackResult {
  /** Commits the server marked shallow for the new depth-1 history. */
  shallow: string[]
}

export class WireError extends Error {
  override readonly name = 'WireError'
}

export interface RefAdvertisement {
  /** ref name → oid; HEAD included when the server advertises it. */
  refs: Map<string, string>
  /** The branch HEAD points at (from the symref capability), when advertised. */
  head?: string
  caps: Record<string, string | true>
}

/**
 * Ref discovery over smart HTTP, protocol v1 (v2 would answer without refs):
 * one GET of info/refs. The advertisement must end with its flush-pkt, so a
 * response cut at a pkt-line boundary is an error, not a shorter ref list.
 */
export async function discoverRefs(http: HttpClient, url: string): Promise<RefAdvertisement> {
  const res = await http.request({ url: `${url.replace(/\/$/, '')}/info/refs?service=git-upload-pack`, method: 'GET', headers: { accept: '*/*' } })
  if (res.statusCode !== 200) return refuse(res, `HTTP ${res.statusCode} ${res.statusMessage}`.trim())
  const type = Object.entries(res.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? ''
  if (type !== 'application/x-git-upload-pack-advertisement' || !res.body) return refuse(res, `not a smart HTTP git server (content-type '${type}')`)
  const out: RefAdvertisement = { refs: new Map(), caps: {} }
  let flushes = 0
  let first = true
  for await (const pkt of pktLines(res.body)) {
    if (pkt === null) {
      flushes++
      continue
    }
    const line = pkt.toString('utf8').replace(/\n$/, '')
    if (flushes >= 2) throw new WireError('data after the end of the ref advertisement')
    if (flushes === 1 && first && line === 'version 1') continue
    if (flushes === 0) {
      if (line !== '# service=git-upload-pack') throw new WireError(`unexpected first line of the ref advertisement: ${line.slice(0, 80)}`)
      continue
    }
    const [refPart, capPart] = first ? splitCaps(line) : [line, undefined]
    if (capPart !== undefined) parseCaps(capPart, out)
    first = false
    const m = /^([0-9a-f]{40}) (\S+)$/.exec(refPart)
    if (!m) throw new WireError(`bad ref advertisement line: ${line.slice(0, 80)}`)
    if (m[2] !== 'capabilities^{}') out.refs.set(m[2]!, m[1]!)
  }
  if (flushes < 2) throw new WireError('the ref advertisement ended early')
  return out
}

/** Fails with `message`, letting go of a response that will not be read (it would hold its connection open). */
async function refuse(res: GitHttpResponse, message: string): Promise<never> {
  await res.body?.return?.(undefined)
  throw new WireError(message)
}

function splitCaps(line: string): [string, string | undefined] {
  const nul = line.indexOf('\0')
  return nul < 0 ? [line, undefined] : [line.slice(0, nul), line.slice(nul + 1)]
}

function parseCaps(text: string, out: RefAdvertisement): void {
  for (const cap of text.split(' ').filter(Boolean)) {
    const eq = cap.indexOf('=')
    if (eq < 0) out.caps[cap] = true
    else out.caps[cap.slice(0, eq)] = cap.slice(eq + 1)
    if (cap.startsWith('symref=HEAD:')) out.head = cap.slice('symref=HEAD:'.length)
  }
}

const WANTED_CAPS = ['side-band-64k', 'thin-pack', 'ofs-delta', 'shallow', 'no-progress']

export async function requestPack(http: HttpClient, req: UploadPackRequest, onPack: (chunk: Buffer) => void): Promise<UploadPackResult> {
  if (!req.serverCaps['shallow']) throw new WireError('the server does not support shallow fetches')
  const res = await http.request({
    url: `${req.url.replace(/\/$/, '')}/git-upload-pack`,
    method: 'POST',
    headers: {
      'content-type': 'application/x-git-upload-pack-request',
      accept: 'application/x-git-upload-pack-result',
    },
    body: single(encodeRequest(req)),
  })
  if (res.statusCode !== 200) return refuse(res, `upload-pack answered HTTP ${res.statusCode} ${res.statusMessage}`.trim())
  if (!res.body) throw new WireError('upload-pack sent no body')
  return parseResponse(res.body, onPack)
}

function encodeRequest(req: UploadPackRequest): Buffer {
  const caps = WANTED_CAPS.filter((c) => req.serverCaps[c])
  if (!caps.includes('side-band-64k') && req.serverCaps['side-band']) caps.unshift('side-band')
  caps.push('agent=olm')
  const lines = [
    pktLine(`want ${req.want} ${caps.join(' ')}\n`),
    ...req.shallows.map((oid) => pktLine(`shallow ${oid}\n`)),
    pktLine('deepen 1\n'),
    '0000',
    ...req.haves.map((oid) => pktLine(`have ${oid}\n`)),
    pktLine('done\n'),
  ]
  return Buffer.from(lines.join(''), 'utf8')
}

export function pktLine(text: string): string {
  return (Buffer.byteLength(text) + 4).toString(16).padStart(4, '0') + text
}

async function* single(buf: Buffer): AsyncIterableIterator<Uint8Array> {
  yield buf
}

/**
 * Reads shallow lines, ACK/NAK and then the side-band stream: band 1 is the
 * pack, 2 progress, 3 a fatal remote error. The stream must end with a flush
 * after the pack; a missing flush means the response was cut short.
 */
async function parseResponse(body: AsyncIterable<Uint8Array>, onPack: (chunk: Buffer) => void): Promise<UploadPackResult> {
  const shallow: string[] = []
  let sawFinalFlush = false
  let inPack = false
  for await (const pkt of pktLines(body)) {
    if (pkt === null) {
      if (inPack) sawFinalFlush = true
      continue
    }
    if (sawFinalFlush) throw new WireError('data after the end of the pack stream')
    const band = pkt[0]!
    if (band === 1) {
      inPack = true
      onPack(pkt.subarray(1))
    } else if (band === 2) continue
    else if (band === 3) throw new WireError(`remote error: ${pkt.subarray(1).toString('utf8').trim()}`)
    else negotiationLine(pkt.toString('utf8').trim(), shallow)
  }
  if (!inPack) throw new WireError('the response held no pack')
  if (!sawFinalFlush) throw new WireError('the response ended before the end of the pack stream')
  return { shallow }
}

function negotiationLine(line: string, shallow: string[]): void {
  if (line.startsWith('shallow ')) shallow.push(line.slice(8))
  else if (line.startsWith('ERR ')) throw new WireError(`remote error: ${line.slice(4)}`)
  else if (!/^(unshallow |ACK |NAK)/.test(line)) throw new WireError(`unexpected line from upload-pack: ${line.slice(0, 80)}`)
}

/** Splits a byte stream into pkt-line payloads; null is a flush-pkt. */
async function* pktLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer | null> {
  let buf = Buffer.alloc(0)
  for await (const chunk of body) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk)
    let p = 0
    while (buf.length - p >= 4) {
      const len = parseInt(buf.toString('latin1', p, p + 4), 16)
      if (Number.isNaN(len) || (len > 0 && len < 4)) throw new WireError(`bad pkt-line length at byte ${p}`)
      if (len === 0) {
        p += 4
        yield null
        continue
      }
      if (buf.length - p < len) break
      yield buf.subarray(p + 4, p + len)
      p += len
    }
    buf = buf.subarray(p)
  }
  if (buf.length) throw new WireError(`the response ended inside a pkt-line (${buf.length} bytes left)`)
}
