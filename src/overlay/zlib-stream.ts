import zlib from 'node:zlib'

/** One zlib stream inflated, and how many input bytes it took (the input may go on past it). */
export interface Inflated {
  data: Buffer
  consumed: number
}

/**
 * Inflates the zlib stream at the start of `input`, expected to give `size`
 * bytes. Throws zlib's error for bad data; for input that ends before the
 * stream does, an error with code Z_BUF_ERROR. Output longer than `size` is
 * an error too (it would mean a corrupt object); shorter output is returned
 * as it is, for the caller to compare (the fallback returns longer output
 * too: callers compare the length either way).
 *
 * Why not inflateSync: it makes a zlib engine per call, and a pack is tens
 * of thousands of small objects. Timed on the bench VM over 50,000 ebuild-
 * sized streams: 290-400 ms with inflateSync, 130 ms with one engine reset
 * between streams. Node has no public way to reset a synchronous engine, so
 * this drives the engine's handle as inflateSync itself does (writeSync,
 * reset, the engine's write state), after checking once per process that it
 * behaves so: a valid stream, one followed by other bytes, and one cut
 * short. If that check fails (another node), every call is inflateSync's.
 */
export function inflateStream(input: Buffer, size: number): Inflated {
  const engine = reusable()
  return engine ? engine.inflate(input, size) : viaInflateSync(input, size)
}

interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void
  reset(): void
  onerror: (message: string, errno: number, code?: string) => void
}

interface ReusableEngine {
  inflate(input: Buffer, size: number): Inflated
}

let checked: ReusableEngine | null | undefined

function reusable(): ReusableEngine | null {
  if (checked === undefined) {
    try {
      const engine = openEngine()
      checked = behavesAsInflateSync(engine) ? engine : null
    } catch {
      checked = null
    }
  }
  return checked
}

function openEngine(): ReusableEngine {
  const stream = new zlib.Inflate() as zlib.Inflate & { _handle?: ZlibHandle; _writeState?: Uint32Array }
  const handle = stream._handle
  const state = stream._writeState
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array)) throw new Error('no zlib handle')
  // The handle reports errors through onerror, synchronously inside writeSync; the stream would
  // destroy itself (and its handle) on one. Taken here, the handle is reset and used again.
  let failure: { message: string; code: string } | null = null
  handle.onerror = (message, errno, code) => {
    failure = { message, code: code ?? zlibCode(errno) }
  }
  return {
    inflate(input, size) {
      const out = Buffer.allocUnsafe(size + 64)
      failure = null
      handle.reset()
      handle.writeSync(zlib.constants.Z_FINISH, input, 0, input.length, out, 0, out.length)
      if (failure) {
        const { message, code } = failure as { message: string; code: string }
        throw Object.assign(new Error(message), { code })
      }
      const [outLeft, inLeft] = [state[0]!, state[1]!]
      // Past the announced size (a full buffer may hold a stream that goes on): no object of that size.
      if (out.length - outLeft > size || outLeft === 0) throw Object.assign(new Error(`inflates to more than the ${size} bytes announced`), { code: 'Z_DATA_ERROR' })
      return { data: out.subarray(0, out.length - outLeft), consumed: input.length - inLeft }
    },
  }
}

/** What inflateStream falls back to (exported for the tests that hold the two to the same answers). */
export function viaInflateSync(input: Buffer, size: number): Inflated {
  const res = zlib.inflateSync(input, { info: true, chunkSize: Math.max(64, size + 64) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
  return { data: res.buffer, consumed: res.engine.bytesWritten }
}

function zlibCode(errno: number): string {
  return Object.entries(zlib.constants).find(([name, value]) => name.startsWith('Z_') && value === errno && errno < 0)?.[0] ?? 'Z_DATA_ERROR'
}

/** The engine gives what inflateSync gives, consumed bytes included, and Z_BUF_ERROR for a cut stream. */
function behavesAsInflateSync(engine: ReusableEngine): boolean {
  const text = Buffer.from('olm checks its zlib engine against inflateSync\n'.repeat(40))
  const stream = zlib.deflateSync(text)
  const followed = Buffer.concat([stream, Buffer.from('next object')])
  const whole = engine.inflate(followed, text.length)
  if (!whole.data.equals(text) || whole.consumed !== stream.length) return false
  try {
    engine.inflate(stream.subarray(0, stream.length - 9), text.length)
    return false
  } catch (err) {
    if ((err as { code?: string }).code !== 'Z_BUF_ERROR') return false
  }
  // and it is usable again after an error
  return engine.inflate(stream, text.length).data.equals(text)
}
