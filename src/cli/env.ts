import type { Reporter } from '../report.js'
import type { GlobalOptions } from './commands/shared.js'

/** What command handlers may touch of the process: output streams and the exit status. */
export interface CliEnv {
  out(line: string): void
  err(line: string): void
  reporter(g: GlobalOptions): Reporter
  exitCode: number
}
