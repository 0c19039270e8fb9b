import type { Worker } from 'node:cluster'
import type { UpdateResult } from '../../plugin/index.js'
import type { ClusterConfig } from '../config/config-types.js'
import { isClusterMessage, type UpdateResultMessage } from '../ipc-messages.js'

/** A worker that does not answer an update within this time counts as failed. */
const UPDATE_TIMEOUT_MS = 15_000

let nextId = 1

/**
 * Sends a reloaded config to one worker to apply in place and resolves with
 * its result, or with an error message (it refused, died, or did not answer
 * in time).
 *
 * @example
 * const answer = await updateWorker(info.worker, config)
 * if ('error' in answer) log.error(answer.error)
 */
export function updateWorker (worker: Worker, config: ClusterConfig, timeoutMs = UPDATE_TIMEOUT_MS): Promise<{ result: UpdateResult } | { error: string }> {
  return new Promise((resolve) => {
    if (!worker.isConnected()) {
      resolve({ error: 'the worker is not connected' })
      return
    }
    const id = nextId++
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs)
    function finish (answer: { result: UpdateResult } | { error: string }): void {
      clearTimeout(timer)
      worker.removeListener('message', onMessage)
      worker.removeListener('exit', onExit)
      resolve(answer)
    }
    function onMessage (message: unknown): void {
      if (!isClusterMessage(message) || message.type !== 'ws-cluster:update-result') return
      const answer = message as UpdateResultMessage
      if (answer.id !== id) return
      finish(answer.result === undefined ? { error: answer.error ?? 'unknown error' } : { result: answer.result })
    }
    function onExit (): void { finish({ error: 'the worker exited' }) }
    worker.on('message', onMessage)
    worker.on('exit', onExit)
    worker.send({ type: 'ws-cluster:update', id, config }, (err) => { if (err !== null && err !== undefined) finish({ error: err.message }) })
  })
}
