/**
 * A full collection now, when node runs with --expose-gc (bin/olm.js starts
 * it so; elsewhere this does nothing). Called where one phase's garbage would
 * otherwise still be on the heap while the next phase allocates: V8 grows the
 * heap before it collects, so the two add up in peak memory, which is what a
 * cron job on a small machine pays. Measured on the bench's 10-package bump
 * (1,157 packages copied): peak RSS 167 -> 148 MB for ~30 ms.
 *
 * Only above 32 MiB of heap and buffers: a small closure's phases leave a few MiB, far
 * below any peak, and the collection still cost 7-9 ms of a one-package add
 * (heap 10-21 MiB; the bump above: 58 MiB).
 */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return
  // Buffers count outside the heap (the indexer's garbage is mostly theirs).
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  if (heapUsed + arrayBuffers > 32 * 1024 * 1024) gc()
}
