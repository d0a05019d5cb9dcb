/**
 * The one error type for problems a user caused or can fix (bad config, an
 * unreachable server, an atom nothing satisfies). Bugs stay plain `Error`s so
 * the CLI can tell the two apart and ask for a report.
 */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'NAME_SYNTAX'
  | 'VERSION_SYNTAX'
  | 'ATOM_SYNTAX'
  | 'DEPEND_SYNTAX'
  | 'METADATA_INVALID'
  | 'OVERLAY_UNKNOWN'
  | 'PACKAGE_NOT_FOUND'
  | 'CONFLICT'
  | 'SOURCE_UNREACHABLE'
  | 'REF_NOT_FOUND'
  | 'FETCH_FAILED'
  | 'DIGEST_MISMATCH'
  | 'UNSAFE_PATH'
  | 'UNSATISFIED'
  | 'WRITE_FAILED'
  | 'LOCKED'

export interface ErrorContext {
  file?: string
  line?: number
  /** 1-based column or token position inside `line`, where a parser knows it. */
  column?: number
  overlay?: string
  url?: string
  package?: string
  hint?: string
}

export class OlmError extends Error {
  override readonly name = 'OlmError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  /** "file:line: message" when the location is known, for one-line reports. */
  get located(): string {
    const { file, line } = this.context
    if (file && line) return `${file}:${line}: ${this.message}`
    if (file) return `${file}: ${this.message}`
    return this.message
  }
}

/** Several independent problems found in one pass (config validation reports them all). */
export class OlmErrors extends Error {
  override readonly name = 'OlmErrors'
  constructor(readonly errors: OlmError[]) {
    super(errors.map((e) => e.located).join('\n'))
  }
}

export function isOlmError(err: unknown, code?: ErrorCode): err is OlmError {
  return err instanceof OlmError && (code === undefined || err.code === code)
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`)
}
