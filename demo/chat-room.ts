import { WebSocket } from 'ws'
import type { RoomEvent, ServerMessage } from './chat-protocol.js'

/**
 * How backends share room events. `publish` takes an event created on this
 * backend and makes every backend — this one included — deliver it, so local
 * and remote messages take one path and arrive in one order per backend.
 */
export interface MessageBus {
  readonly kind: 'redis' | 'peers'
  publish (event: RoomEvent): void
  close (): Promise<void>
}

/** Events kept for clients that (re)connect, so a failover does not leave a gap in the page. */
const HISTORY_LIMIT = 50

/**
 * The sockets of the pages connected to this backend and the recent history.
 * Delivery is the only place frames are sent to pages.
 *
 * @example
 * const room = new ChatRoom()
 * room.add(socket)
 * room.deliver({ type: 'system', id: 'x', at: Date.now(), text: 'hi', backend: 'b1' })
 */
export class ChatRoom {
  readonly #clients = new Set<WebSocket>()
  readonly #history: RoomEvent[] = []
  readonly #seen = new Set<string>()

  add (socket: WebSocket): void {
    this.#clients.add(socket)
  }

  remove (socket: WebSocket): void {
    this.#clients.delete(socket)
  }

  get size (): number {
    return this.#clients.size
  }

  history (): RoomEvent[] {
    return this.#history.slice()
  }

  /** Sends an event to every local page once, even if a bus hands it over twice. */
  deliver (event: RoomEvent): void {
    if (this.#seen.has(event.id)) return
    this.#seen.add(event.id)
    this.#history.push(event)
    if (this.#history.length > HISTORY_LIMIT) {
      const dropped = this.#history.shift()
      if (dropped !== undefined) this.#seen.delete(dropped.id)
    }
    const frame = JSON.stringify(event)
    for (const socket of this.#clients) {
      if (socket.readyState === WebSocket.OPEN) socket.send(frame)
    }
  }

  /** Closes every page connection, e.g. on shutdown, with the "going away" code so pages reconnect. */
  closeAll (reason: string): void {
    for (const socket of this.#clients) socket.close(1001, reason)
    this.#clients.clear()
  }
}

/** Sends one message to one page if it is still open. */
export function sendTo (socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message))
}
