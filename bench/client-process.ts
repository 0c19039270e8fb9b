import type { WatchedProcesses } from './proc-stats.js'
import { runWorkload, type WorkloadSpec } from './workload-runner.js'

/**
 * The load client as its own process, driven over IPC by `run.ts`: one workload
 * per message, answered with its result. Keeping the client out of the
 * orchestrator means the orchestrator's bookkeeping never competes with the
 * hot loop, and the client's CPU is a process of its own in the accounting.
 */

export interface ClientRequest {
  seq: number
  port: number
  watched: WatchedProcesses
  spec: WorkloadSpec
}

process.on('message', (message: ClientRequest) => {
  runWorkload(message.port, message.watched, message.spec).then(
    (result) => process.send?.({ seq: message.seq, result }),
    (err: Error) => process.send?.({ seq: message.seq, error: err.stack ?? String(err) })
  )
})
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: true })
