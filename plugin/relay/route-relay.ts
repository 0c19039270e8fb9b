import type { IncomingMessage } from 'node:http'
import type { ResolvedRoute } from '../options/options-types.js'
import type { ResolvedRelay } from '../options/relay-types.js'
import { ClientSideServer } from './client-websocket.js'
import { createHookRunner, type HookRunner } from './message-hooks.js'
import type { UpstreamRelaySetup } from './upstream-websocket.js'
import type { HandshakeRejection } from '../upgrade/websocket-handshake.js'

// RFC 7230 token characters: what a subprotocol name may be made of (RFC 6455 §4.1).
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * The client's subprotocol offer in its order, or a reason it cannot be
 * relayed: the proxy makes the upstream request itself, so it must be able
 * to repeat the offer (a malformed or repeated name could not be).
 */
export function offeredProtocols (req: IncomingMessage): string[] | string {
  const header = req.headers['sec-websocket-protocol']
  if (header === undefined) return []
  const names = header.split(',').map(name => name.trim())
  if (names.some(name => !TOKEN_RE.test(name))) return 'Sec-WebSocket-Protocol is not a list of tokens'
  if (new Set(names).size !== names.length) return 'Sec-WebSocket-Protocol names a subprotocol twice'
  return names
}

/**
 * Why a relay route refuses an upgrade before any upstream connection (400),
 * or null: only WebSocket upgrades can be relayed, with an offer the proxy
 * can repeat.
 */
export function relayRequestRejection (req: IncomingMessage, webSocket: boolean): HandshakeRejection | null {
  if (!webSocket) return { statusCode: 400, reason: 'a relay route carries WebSocket upgrades only' }
  const offer = offeredProtocols(req)
  return typeof offer === 'string' ? { statusCode: 400, reason: offer } : null
}

/**
 * What the connections of one relay route share: the `ws` server that
 * completes client handshakes, the hook runner (and its thread pool) and the
 * resolved options. Built at registration; `ready()` proves the hook loads.
 */
export class RouteRelay {
  readonly options: ResolvedRelay
  readonly clientSide: ClientSideServer
  readonly hooks: HookRunner | null
  private readonly finTimeout: number

  constructor (route: ResolvedRoute & { relay: ResolvedRelay }) {
    this.options = route.relay
    const { compression, maxMessageSize } = this.options
    this.clientSide = new ClientSideServer({ compression: compression.client, maxPayload: maxMessageSize.fromClient, closeTimeout: route.finTimeout })
    this.hooks = createHookRunner(this.options.onMessage, this.options.hookThreads)
    this.finTimeout = route.finTimeout
  }

  /** The upstream handshake of one upgrade: the client's offer, this route's compression and size limit. */
  upstreamSetup (protocols: string[]): UpstreamRelaySetup {
    const { compression, maxMessageSize } = this.options
    return { protocols, compression: compression.upstream, maxPayload: maxMessageSize.fromUpstream, closeTimeout: this.finTimeout }
  }

  async ready (): Promise<void> {
    await this.hooks?.ready()
  }

  async close (): Promise<void> {
    this.clientSide.close()
    await this.hooks?.close()
  }
}
