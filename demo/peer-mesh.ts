import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { WebSocket } from 'ws'
import { isRoomEvent, type RoomEvent } from './chat-protocol.js'
import type { MessageBus } from './chat-room.js'

export const PEER_PATH = '/peer'
export const PEER_TOKEN_HEADER = 'x-demo-peer-token'

export interface PeerMeshOptions {
  /** Base URLs of the other backends (`http://127.0.0.1:9102`); this backend's own URL may be in the list. */
  peers: string[]
  /** This backend's own base URL, skipped in `peers`. */
  self: string
  /** Shared by the backends of one demo run, so only they can inject messages. */
  token: string
  deliver: (event: RoomEvent) => void
  log: (line: string) => void
}

const RETRY_MIN_MS = 250
const RETRY_MAX_MS = 5000

/**
 * Cross-backend delivery without Redis: every backend keeps one WebSocket to
 * every other backend's `/peer` endpoint (a full mesh on 127.0.0.1) and sends
 * each event it creates down all of them. An event travels one hop, so there
 * are no loops and no ordering protocol. A peer that is down simply misses
 * events until its link is back, which is what happens to its pages anyway.
 * This is fine for a handful of backends on one host; Redis pub/sub is the
 * answer beyond that, and the same `MessageBus` interface hides the choice.
 *
 * @example
 * const mesh = new PeerMesh({ peers: ['http://127.0.0.1:9102'], self: 'http://127.0.0.1:9101', token, deliver: e => room.deliver(e), log: console.log })
 * app.get('/peer', { websocket: true }, (socket, req) => mesh.accept(socket, req.raw))
 */
export class PeerMesh implements MessageBus {
  readonly kind = 'peers' as const
  readonly #options: PeerMeshOptions
  readonly #links = new Map<string, WebSocket>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inbound = new Set<WebSocket>()
  #closed = false

  constructor (options: PeerMeshOptions) {
    this.#options = options
    const self = new URL(options.self).host
    for (const peer of options.peers) {
      const url = new URL(PEER_PATH, peer)
      if (url.host === self) continue
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
      this.#connect(url.href, RETRY_MIN_MS)
    }
  }

  publish (event: RoomEvent): void {
    this.#options.deliver(event)
    const frame = JSON.stringify(event)
    for (const link of this.#links.values()) {
      if (link.readyState === WebSocket.OPEN) link.send(frame)
    }
  }

  /** Handles a link opened by another backend to this one's `/peer` endpoint. */
  accept (socket: WebSocket, request: IncomingMessage): void {
    if (!tokenMatches(request.headers[PEER_TOKEN_HEADER], this.#options.token)) {
      socket.close(1008, 'bad peer token')
      return
    }
    this.#inbound.add(socket)
    socket.on('close', () => this.#inbound.delete(socket))
    socket.on('message', (data) => {
      let event: unknown
      try {
        event = JSON.parse(data.toString())
      } catch {
        return
      }
      if (isRoomEvent(event)) this.#options.deliver(event)
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    const all = [...this.#links.values(), ...this.#inbound]
    await Promise.all(all.map(closeAndWait))
    this.#links.clear()
    this.#inbound.clear()
  }

  #connect (url: string, delayMs: number): void {
    const link = new WebSocket(url, { headers: { [PEER_TOKEN_HEADER]: this.#options.token } })
    this.#links.set(url, link)
    let opened = false
    link.on('open', () => {
      opened = true
      this.#options.log(`peer link up: ${url}`)
    })
    // A refused connect is the normal state while a peer starts or after it died; 'close' follows.
    link.on('error', () => {})
    link.on('close', () => {
      if (this.#closed) return
      if (opened) this.#options.log(`peer link down: ${url}; retrying`)
      const next = opened ? RETRY_MIN_MS : Math.min(delayMs * 2, RETRY_MAX_MS)
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        this.#connect(url, next)
      }, opened ? RETRY_MIN_MS : delayMs)
      this.#timers.add(timer)
    })
  }
}

function tokenMatches (given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

async function closeAndWait (socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve())
    if (socket.readyState === WebSocket.CONNECTING) socket.terminate()
    else socket.close(1001, 'backend stopping')
    // A peer that vanished never answers the close handshake; do not wait for it.
    setTimeout(() => { socket.terminate() }, 1000).unref()
  })
}
