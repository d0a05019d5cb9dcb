/**
 * A fixed number of bash workers serving evaluation requests in arrival
 * order. A worker that died (killed by an ebuild, or after a timeout that
 * could not be pinned on one evaluation) is replaced on the next request.
 */
import type { EvalRequest, EvalResult, Worker } from './worker.js'

export interface WorkerPool {
  run(req: EvalRequest): Promise<EvalResult>
  close(): Promise<void>
}

export function createWorkerPool(size: number, startWorker: () => Worker): WorkerPool {
  const idle: Worker[] = []
  const all = new Set<Worker>()
  const queue: { req: EvalRequest; resolve: (r: EvalResult) => void; reject: (e: unknown) => void }[] = []
  let closed = false

  function takeWorker(): Worker | undefined {
    for (let w = idle.pop(); w; w = idle.pop()) {
      if (w.alive) return w
      all.delete(w)
    }
    if (all.size >= size) return undefined
    const w = startWorker()
    all.add(w)
    return w
  }

  function pump(): void {
    while (queue.length > 0 && !closed) {
      const worker = takeWorker()
      if (!worker) return
      const task = queue.shift()!
      worker.evaluate(task.req).then(
        (result) => {
          task.resolve(result)
          if (worker.alive) idle.push(worker)
          else all.delete(worker)
          pump()
        },
        (err: unknown) => {
          task.reject(err)
          void worker.close()
          all.delete(worker)
          pump()
        },
      )
    }
  }

  return {
    run(req) {
      if (closed) return Promise.reject(new Error('metadata evaluator used after close()'))
      return new Promise<EvalResult>((resolve, reject) => {
        queue.push({ req, resolve, reject })
        pump()
      })
    },
    async close() {
      closed = true
      for (const task of queue.splice(0)) task.reject(new Error('metadata evaluator closed'))
      await Promise.all([...all].map((w) => w.close()))
      all.clear()
      idle.length = 0
    },
  }
}
