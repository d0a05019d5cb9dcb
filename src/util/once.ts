/** Memoizes an async thunk: the first call starts the work, later calls share it. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return () => (p ??= fn())
}
