import type { Duration } from './duration.js'

/*
 * The relay mode's options and the message hook's contract. In relay mode the
 * proxy terminates the WebSocket on both sides, so it sees whole messages: a
 * hook can pass, rewrite, drop or refuse each one, and limits apply per
 * message instead of per byte.
 */

/** Which way a message travels. */
export type MessageDirection = 'fromClient' | 'fromUpstream'

/**
 * What a hook knows about the connection a message belongs to. The same
 * object is passed for every message of one connection to an inline hook
 * (so a `WeakMap` keyed by it can hold per-connection state); a pool hook
 * gets a copy with every message.
 */
export interface RelayConnectionInfo {
  /** The request id of the upgrade (the access log's `reqId`). */
  id: string
  /** The route's `path` option. */
  route: string
  /** The client address (PROXY protocol source when trusted). */
  clientAddress: string
  /** The upstream server's URL. */
  upstream: string
  /** The subprotocol the upstream chose, or `''`. */
  protocol: string
  /** The request target of the upgrade (path and query). */
  url: string
  /** The headers of the client's upgrade request, as Node parsed them. */
  headers: Record<string, string | string[] | undefined>
}

/** One message as a hook sees it. */
export interface RelayMessage {
  direction: MessageDirection
  /** The whole message, reassembled from its fragments and decompressed. */
  data: Buffer
  /** true for a binary message, false for text (UTF-8, already validated). */
  isBinary: boolean
  connection: RelayConnectionInfo
}

/**
 * What to do with a message. `undefined` (or `{ action: 'pass' }`) forwards
 * it as received; `replace` forwards `data` instead (text when it is a
 * string, unless `isBinary` says otherwise); `drop` forwards nothing;
 * `close` ends the connection on both sides with `code` (1000, 1001,
 * 1007-1014 or 3000-4999) and `reason` (cut to 123 bytes).
 */
export type MessageVerdict =
  | undefined
  | { action: 'pass' }
  | { action: 'drop' }
  | { action: 'replace', data: string | Uint8Array, isBinary?: boolean }
  | { action: 'close', code: number, reason?: string }

/**
 * A per-message hook. It may be async; messages of one direction of a
 * connection are handled one at a time, in order. A hook that throws or
 * rejects closes that connection with 1011.
 *
 * @example
 * const onMessage: MessageHook = ({ direction, data }) => {
 *   if (direction === 'fromClient' && data.includes('forbidden')) return { action: 'close', code: 1008, reason: 'policy' }
 *   return undefined
 * }
 */
export type MessageHook = (message: RelayMessage) => MessageVerdict | Promise<MessageVerdict>

/** A route's `relay` options (only with `mode: 'relay'`). */
export interface RelayOptions {
  /**
   * The message hook: a function (runs on the event loop), or the path of an
   * ES module exporting `onMessage` (or a default function), which runs in a
   * worker-thread pool so CPU-heavy work never stalls other connections.
   * Relative paths resolve from the config file (cluster) or the current
   * directory (plugin).
   */
  onMessage?: MessageHook | string
  /** Threads of the pool of a module hook, per route and per process. Default 2. */
  hookThreads?: number
  /** Largest message in bytes, for both directions or each; bigger closes with 1009. Default 16 MiB. */
  maxMessageSize?: number | { fromClient?: number, fromUpstream?: number }
  /** Messages a client may send: `messages` per `per`, in bursts of up to `messages`; beyond it closes with 1008. Default none. */
  rateLimit?: { messages: number, per: Duration }
  /** Proxy-sent pings to both sides every `interval`; a side without a pong within `timeout` (default 10 s) is dead. Default none. */
  heartbeat?: { interval: Duration, timeout?: Duration }
  /** permessage-deflate, per side (`true` = both). Default false: it costs up to ~300 KiB per compressing connection. */
  compression?: boolean | { client?: boolean, upstream?: boolean }
}

/** Relay options after validation: every field present, durations in ms, hook paths absolute. */
export interface ResolvedRelay {
  onMessage: MessageHook | string | null
  hookThreads: number
  maxMessageSize: { fromClient: number, fromUpstream: number }
  rateLimit: { messages: number, per: number } | null
  heartbeat: { interval: number, timeout: number } | null
  compression: { client: boolean, upstream: boolean }
}
