import { type ErrorCode, OlmError, OlmErrors } from '../errors.js'

/** Contract exit statuses. */
export const EXIT = { ok: 0, failed: 1, usage: 2, partial: 3 } as const

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'USAGE',
  'CONFIG_INVALID',
  'NAME_SYNTAX',
  'VERSION_SYNTAX',
  'ATOM_SYNTAX',
  'OVERLAY_UNKNOWN',
  'PACKAGE_NOT_FOUND',
  'CONFLICT',
])

/** 2 for request and configuration problems (found before anything is written), 1 for the rest. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof OlmErrors) return err.errors.every((e) => USAGE_CODES.has(e.code)) ? EXIT.usage : EXIT.failed
  if (err instanceof OlmError) return USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.failed
  return EXIT.failed
}

/** One line per problem: "file:line: message" where the location is known. */
export function describeError(err: unknown): string[] {
  if (err instanceof OlmErrors) return err.errors.flatMap(describeError)
  if (err instanceof OlmError) {
    const hint = err.context.hint ? [`  hint: ${err.context.hint}`] : []
    return [...err.located.split('\n'), ...hint]
  }
  return []
}
