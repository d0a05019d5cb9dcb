/** One read and a digest of its answer. */
export type LoggedRead<K extends string> = [kind: K, path: string, digest: string]

/**
 * The reads a computation made, each with a digest of what it saw, so a
 * later run can tell by repeating them whether its inputs changed.
 */
export class ReadLog<K extends string> {
  private readonly seen = new Map<string, LoggedRead<K>>()

  record(kind: K, path: string, digest: string): void {
    const key = `${kind}\0${path}`
    // The first answer is the one the computation used.
    if (!this.seen.has(key)) this.seen.set(key, [kind, path, digest])
  }

  reads(): LoggedRead<K>[] {
    return [...this.seen.values()]
  }
}
