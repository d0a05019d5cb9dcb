import type { ErrorCode } from './errors.js'

/**
 * Everything the core has to say while it works. Core code emits these and
 * never formats text; the renderers in cli/render decide what a person sees.
 */
export type OlmEvent =
  | { type: 'source:start'; overlay: string; url: string }
  | { type: 'source:progress'; overlay: string; phase: string; loaded: number; total?: number }
  | { type: 'source:done'; overlay: string; commit: string; cached: boolean }
  | { type: 'source:failed'; overlay: string; url: string; message: string }
  | { type: 'resolve:done'; packages: number; eclasses: number; licenses: number; /** nothing it read had changed: the last resolution stands */ reused?: boolean }
  | { type: 'write:done'; location: string; changed: boolean }
  | { type: 'warn'; code: ErrorCode | 'UNSATISFIED_DEP' | 'NOTICE'; message: string }
  | { type: 'info'; message: string }

export interface Reporter {
  emit(event: OlmEvent): void
}

export const silentReporter: Reporter = { emit() {} }

/** For tests: keeps every event in order. */
export function collectingReporter(): Reporter & { events: OlmEvent[] } {
  const events: OlmEvent[] = []
  return { events, emit: (e) => void events.push(e) }
}
