import type { OlmEvent, Reporter } from '../../report.js'

export type Verbosity = 'quiet' | 'normal' | 'verbose'

export interface TerminalOptions {
  verbosity: Verbosity
  stderr: NodeJS.WriteStream
  color: boolean
}

/**
 * Renders core events on stderr. On a terminal it keeps one live progress
 * line while fetching; elsewhere (cron, pipes) it prints only warnings and,
 * with -v, one line per finished step. --quiet leaves errors only.
 */
export function terminalReporter(opts: TerminalOptions): Reporter & { finish(): void } {
  const tty = opts.stderr.isTTY === true
  const paint = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s)
  const started = new Set<string>()
  const done = new Set<string>()
  const bytes = new Map<string, number>()
  let live = false
  const clear = () => {
    if (live) opts.stderr.write('\r\x1b[K')
    live = false
  }
  const line = (s: string) => {
    clear()
    opts.stderr.write(s + '\n')
  }
  const progress = () => {
    if (!tty || opts.verbosity === 'quiet') return
    const total = [...bytes.values()].reduce((a, b) => a + b, 0)
    opts.stderr.write(`\r\x1b[Kfetching overlays: ${done.size}/${started.size} done, ${formatBytes(total)}`)
    live = true
  }
  const emit = (e: OlmEvent) => {
    switch (e.type) {
      case 'source:start':
        started.add(e.overlay)
        return progress()
      case 'source:progress':
        bytes.set(e.overlay, e.loaded)
        return progress()
      case 'source:done':
        done.add(e.overlay)
        if (opts.verbosity === 'verbose') line(`::${e.overlay} at ${e.commit.slice(0, 12)}${e.cached ? ' (unchanged)' : ''}`)
        return progress()
      case 'source:failed':
        done.add(e.overlay)
        return line(`${paint('31', 'error')}: ${e.message}; ::${e.overlay} keeps its previous state`)
      case 'warn':
        if (opts.verbosity !== 'quiet') line(`${paint('33', 'warning')}: ${e.message}`)
        return
      case 'info':
        if (opts.verbosity !== 'quiet') line(e.message)
        return
      case 'resolve:done':
        clear()
        if (opts.verbosity === 'verbose')
          line(`${e.reused ? 'nothing it depends on changed since the last sync: still' : 'resolved'} ${e.packages} packages, ${e.eclasses} eclasses, ${e.licenses} licenses`)
        return
      case 'write:done':
        return clear()
    }
  }
  return { emit, finish: clear }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
