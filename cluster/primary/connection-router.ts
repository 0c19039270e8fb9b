import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { ipKey, normalizeAddress } from '../../plugin/internal.js'
import type { ClusterConfig } from '../config/config-types.js'
import { createTrustChecker } from '../config/trusted-proxies.js'
import { ProxyHeaderGate } from './proxy-header-gate.js'
import { clientAddressFrom } from './proxy-protocol-reader.js'
import type { WorkerSlots } from './worker-slots.js'

/**
 * What the primary does with each accepted connection: find the client
 * address (the peer, or the source of a trusted PROXY header), turn it into
 * the sticky key — the whole address, or its IPv6 network when
 * `limits.ipv6Prefix` is below 128 (R64) — and hand the socket to that
 * key's slot. Nothing here logs or builds JSON per connection.
 *
 * @example
 * const router = new ConnectionRouter(config, slots, log)
 * net.createServer({ pauseOnConnect: true }, router.handler)
 */
export class ConnectionRouter {
  /** Connections accepted (nginx `accepts`). */
  accepted = 0
  /** Reads PROXY headers within bounds; null when `listen.proxyProtocol` is off. */
  readonly gate: ProxyHeaderGate | null
  readonly handler: (socket: Socket) => void

  constructor (config: ClusterConfig, slots: WorkerSlots, log: Logger) {
    const prefix = config.limits.ipv6Prefix ?? 128
    const keyOf = prefix >= 128 ? (address: string) => address : (address: string) => ipKey(address, prefix)
    if (!config.listen.proxyProtocol) {
      this.gate = null
      this.handler = (socket) => {
        this.accepted++
        const peer = socket.remoteAddress
        if (peer === undefined) socket.destroy()
        else slots.route(keyOf(normalizeAddress(peer)), { socket, clientAddress: null, head: null })
      }
      return
    }
    const gate = this.gate = new ProxyHeaderGate(config.listen.maxPendingProxyHeaders, log)
    const trusted = createTrustChecker(config.listen.trustedProxies)
    this.handler = (socket) => {
      this.accepted++
      const peerRaw = socket.remoteAddress
      if (peerRaw === undefined) {
        socket.destroy()
        return
      }
      const peer = normalizeAddress(peerRaw)
      gate.admit(socket, peer, ({ header, rest }) => {
        const clientAddress = clientAddressFrom(header, trusted(peer))
        const key = keyOf(clientAddress === null ? peer : normalizeAddress(clientAddress))
        slots.route(key, { socket, clientAddress, head: rest })
      })
    }
  }
}
