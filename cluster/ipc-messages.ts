import type { UpdateResult, WsProxyStats } from '../plugin/index.js'
import type { ClusterConfig } from './config/config-types.js'

/**
 * The messages the primary and its workers exchange over the node:cluster IPC
 * channel. Every type is prefixed so that they never collide with the messages
 * of libraries that share the channel (prom-client uses `prom-client:*`).
 */

/** Primary → worker, with the socket as the handle. `a`/`h` only when the primary knows more than the socket does. */
export interface ConnMessage {
  type: 'ws-cluster:conn'
  /** Client address from a trusted PROXY header. */
  a?: string
  /** Bytes the primary read past the PROXY header, base64. */
  h?: string
}

/** Primary → worker, first message after fork: what to serve. */
export interface SetupMessage {
  type: 'ws-cluster:setup'
  config: ClusterConfig
  slot: number
  pretty: boolean
}

/**
 * Primary → worker: stop serving and exit 0. `stop`: 1001 close frames spread
 * within shutdownTimeout, then cut (R39). `replaced`: a new worker took the
 * slot; open tunnels run until they end or drainTimeout, then get 1012 (R40).
 * A `stop` after a `replaced` ends that drain early.
 */
export interface DrainMessage {
  type: 'ws-cluster:drain'
  mode: 'stop' | 'replaced'
}

/** Primary → worker: apply a reloaded config in place (R40), answered with an update-result of the same id. */
export interface UpdateMessage {
  type: 'ws-cluster:update'
  id: number
  config: ClusterConfig
}

/** Worker → primary: what the in-place update did, or why it failed (then nothing changed). */
export interface UpdateResultMessage {
  type: 'ws-cluster:update-result'
  id: number
  result?: UpdateResult
  error?: string
}

/** Primary → worker: are you still there? (R58; answered with a pong from the worker's event loop). */
export interface PingMessage {
  type: 'ws-cluster:ping'
}

/** Worker → primary: the answer to a ping. */
export interface PongMessage {
  type: 'ws-cluster:pong'
}

/** Primary → worker: report live stats for /status. */
export interface StatsRequestMessage {
  type: 'ws-cluster:stats-request'
  id: number
}

/**
 * Worker → primary: listening for messages now. A cluster worker whose entry
 * is an ES module evaluates it asynchronously, and messages that arrive
 * before its listener is attached are dropped (nodejs/node#48578), so the
 * primary waits for this before sending anything.
 */
export interface HelloMessage {
  type: 'ws-cluster:hello'
}

/** Worker → primary: listening (well, serving) — the slot can be switched to it. */
export interface ReadyMessage {
  type: 'ws-cluster:ready'
}

/** Worker → primary: setup failed; the worker exits 1 after sending this. */
export interface FailedMessage {
  type: 'ws-cluster:failed'
  error: string
}

/** What a worker reports for /status: the plugin's live stats. */
export type WorkerStats = WsProxyStats

/** Worker → primary: answer to a stats request. */
export interface StatsResponseMessage {
  type: 'ws-cluster:stats-response'
  id: number
  stats: WorkerStats
}

export type PrimaryToWorker = ConnMessage | SetupMessage | DrainMessage | UpdateMessage | StatsRequestMessage | PingMessage
export type WorkerToPrimary = HelloMessage | ReadyMessage | FailedMessage | StatsResponseMessage | UpdateResultMessage | PongMessage

/** Narrowing for messages that may come from anyone on the channel. */
export function isClusterMessage (value: unknown): value is { type: string } {
  return typeof value === 'object' && value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('ws-cluster:')
}
