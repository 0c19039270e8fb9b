import { closedLoop, type ClosedLoopResult } from './closed-loop.js'
import { connectionPhase, type ConnectionPhaseResult } from './connection-phase.js'
import { openLoop, type OpenLoopResult } from './open-loop.js'
import type { WatchedProcesses } from './proc-stats.js'
import { closeConnections, openConnections } from './raw-connection.js'
import { slowConsumer, type SlowConsumerResult } from './slow-consumer.js'
import { stormWorkload, type StormOptions, type StormResult } from './storm.js'
import { wsClientLoop, type WsClientLoopResult } from './ws-client-loop.js'

/**
 * One workload against one running path, described as plain data so that it can
 * cross the IPC channel to the load-client process — or run in-process, as the
 * smoke test does. Forked as a process (`client-driver.ts` does), this file is
 * the load client: one workload per IPC message, answered with its result.
 * Keeping the client out of the orchestrator means the orchestrator's
 * bookkeeping never competes with the hot loop, and the client's CPU is a
 * process of its own in the accounting.
 */

export type WorkloadSpec =
  | {
    kind: 'closed-loop'
    id: string
    connections: number
    size: number
    warmupMs: number
    durationMs: number
    roundTrips?: number
  }
  | { kind: 'connections', id: string, count: number, batch: number, settleMs: number }
  | { kind: 'open-loop', id: string, connections: number, size: number, rate: number, warmupMs: number, durationMs: number }
  | { kind: 'ws-client', id: string, connections: number, size: number, warmupMs: number, durationMs: number }
  | { kind: 'slow-consumer', id: string, bytes: number, settleMs: number }
  | ({ kind: 'storm', id: string } & StormOptions)

export type WorkloadResult =
  | { kind: 'closed-loop', result: ClosedLoopResult }
  | { kind: 'connections', result: ConnectionPhaseResult }
  | { kind: 'open-loop', result: OpenLoopResult }
  | { kind: 'ws-client', result: WsClientLoopResult }
  | { kind: 'slow-consumer', result: SlowConsumerResult }
  | { kind: 'storm', result: StormResult }

/** Batches of 250 keep every proxy's accept queue (511 in Node and nginx) from overflowing. */
export const OPEN_BATCH = 250

/**
 * @example
 * const r = await runWorkload(port, { proxyRoot: pid, harness: [process.pid] },
 *   { kind: 'closed-loop', id: 'c50', connections: 50, size: 64, warmupMs: 500, durationMs: 3000 })
 */
export async function runWorkload (port: number, watched: WatchedProcesses, spec: WorkloadSpec): Promise<WorkloadResult> {
  if (spec.kind === 'connections') {
    return { kind: 'connections', result: await connectionPhase(port, watched, spec) }
  }
  if (spec.kind === 'slow-consumer') {
    return { kind: 'slow-consumer', result: await slowConsumer(port, watched, spec) }
  }
  if (spec.kind === 'storm') {
    return { kind: 'storm', result: await stormWorkload(port, watched, spec) }
  }
  if (spec.kind === 'ws-client') {
    return {
      kind: 'ws-client',
      result: await wsClientLoop(port, spec.connections, spec.size, spec.warmupMs, spec.durationMs)
    }
  }
  const opened = await openConnections(port, spec.connections, OPEN_BATCH)
  if (spec.kind === 'open-loop') {
    try {
      const result = await openLoop(opened.connections, watched, spec)
      result.errors += opened.errors
      result.firstError ??= opened.firstError
      return { kind: 'open-loop', result }
    } finally {
      await closeConnections(opened.connections)
    }
  }
  try {
    const result = await closedLoop(opened.connections, watched, spec)
    result.errors += opened.errors
    result.firstError ??= opened.firstError
    result.connections = spec.connections
    return { kind: 'closed-loop', result }
  } finally {
    await closeConnections(opened.connections)
  }
}

/** Errors of any workload result (all must be 0). */
export function errorsOf (r: WorkloadResult): number {
  return r.result.errors
}

/** Share of the machine's CPU used by other processes during the measured window. */
export function othersShareOf (r: WorkloadResult): number {
  return r.kind === 'ws-client' ? 0 : r.result.cpu.othersShare
}

export interface ClientRequest {
  seq: number
  port: number
  watched: WatchedProcesses
  spec: WorkloadSpec
}

if (process.send !== undefined && process.argv[2] === '--load-client') {
  process.on('message', (message: ClientRequest) => {
    runWorkload(message.port, message.watched, message.spec).then(
      (result) => process.send?.({ seq: message.seq, result }),
      (err: Error) => process.send?.({ seq: message.seq, error: err.stack ?? String(err) })
    )
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
}
