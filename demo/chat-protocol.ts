/**
 * The JSON messages between the chat page and a chat backend, and between
 * backends. One place so the backend, the page (demo/public/app.js) and the
 * tests agree on the shapes.
 */

/** What the page sends. */
export type ClientMessage =
  | { type: 'join', name: string, rejoin: boolean }
  | { type: 'chat', text: string }
  | { type: 'ping', t: number }

/** A message that every backend delivers to all of its clients (it crosses backends over the bus). */
export type RoomEvent =
  | { type: 'chat', id: string, at: number, name: string, text: string, backend: string }
  | { type: 'system', id: string, at: number, text: string, backend: string }

/** What the backend saw of the proxied upgrade request: proof of the path, not a guess. */
export interface ConnectionView {
  backend: { name: string, pid: number, port: number }
  /** Set by the demo's `app` plugin in the ws-cluster worker that proxied this connection; null when none did. */
  proxyWorker: { id: string, pid: number } | null
  client: {
    xForwardedFor: string | null
    xRealIp: string | null
    xForwardedHost: string | null
    host: string | null
    /** The TCP peer of the backend: the proxy worker's address. */
    remoteAddress: string | null
  }
  /** How this backend shares messages with the others: `redis` pub/sub or the `peers` mesh. */
  transport: 'redis' | 'peers'
}

/** What the backend sends. */
export type ServerMessage =
  | { type: 'welcome', view: ConnectionView, history: RoomEvent[] }
  | { type: 'pong', t: number }
  | { type: 'error', message: string }
  | RoomEvent

/** Header the demo's `app` plugin adds to requests in a ws-cluster worker: `<worker id>:<pid>`. */
export const WORKER_HEADER = 'x-ws-cluster-worker'

export const MAX_NAME_LENGTH = 32
export const MAX_TEXT_LENGTH = 500

/**
 * Parses and checks one frame from a page. Returns an error string instead of
 * throwing, because a bad frame from one browser must not disturb the others.
 *
 * @example
 * parseClientMessage('{"type":"ping","t":1}') // { type: 'ping', t: 1 }
 */
export function parseClientMessage (raw: string): ClientMessage | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { error: 'message is not JSON' }
  }
  if (typeof value !== 'object' || value === null) return { error: 'message is not an object' }
  const msg = value as Record<string, unknown>
  switch (msg.type) {
    case 'join': {
      const name = typeof msg.name === 'string' ? msg.name.trim() : ''
      if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
        return { error: `join.name must be 1-${MAX_NAME_LENGTH} characters` }
      }
      return { type: 'join', name, rejoin: msg.rejoin === true }
    }
    case 'chat': {
      const text = typeof msg.text === 'string' ? msg.text.trim() : ''
      if (text.length === 0 || text.length > MAX_TEXT_LENGTH) {
        return { error: `chat.text must be 1-${MAX_TEXT_LENGTH} characters` }
      }
      return { type: 'chat', text }
    }
    case 'ping':
      if (typeof msg.t !== 'number' || !Number.isFinite(msg.t)) return { error: 'ping.t must be a number' }
      return { type: 'ping', t: msg.t }
    default:
      return { error: `unknown message type ${JSON.stringify(msg.type)}; allowed: join, chat, ping` }
  }
}

/** Checks an event that arrived from another backend (Redis or a peer) before it is fanned out. */
export function isRoomEvent (value: unknown): value is RoomEvent {
  if (typeof value !== 'object' || value === null) return false
  const e = value as Record<string, unknown>
  const common = typeof e.id === 'string' && typeof e.at === 'number' &&
    typeof e.text === 'string' && typeof e.backend === 'string'
  if (e.type === 'chat') return common && typeof e.name === 'string'
  return e.type === 'system' && common
}
