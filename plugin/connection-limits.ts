import { ipKey } from './client-identity.js'

/**
 * R34/R35: counts open tunnels plus handshakes in progress, overall and per
 * client address (nginx `worker_connections` / `limit_conn`). A slot is taken
 * before the upstream is contacted and given back when the tunnel closes or
 * the handshake fails. IPv6 clients count per network of `ipv6Prefix` bits
 * (R87), so one subscriber's /64 is one client.
 */
export class ConnectionLimits {
  private total = 0
  private readonly perIp = new Map<string, number>()

  constructor (private maxConnections: number, private maxPerIp: number, private readonly ipv6Prefix = 128) {}

  /**
   * New limits (an update): slots already taken stay taken; only new ones are
   * checked against these. (ipv6Prefix, the key slots are counted under, never changes in place.)
   */
  setLimits (maxConnections: number, maxPerIp: number): void {
    this.maxConnections = maxConnections
    this.maxPerIp = maxPerIp
  }

  /** Takes a slot for `clientAddress`; returns why it cannot, or null on success. */
  tryAcquire (clientAddress: string): string | null {
    const address = ipKey(clientAddress, this.ipv6Prefix)
    if (this.maxConnections > 0 && this.total >= this.maxConnections) {
      return `maxConnections (${this.maxConnections}) reached`
    }
    const current = this.perIp.get(address) ?? 0
    if (this.maxPerIp > 0 && current >= this.maxPerIp) {
      return `maxConnectionsPerIp (${this.maxPerIp}) reached for ${address}`
    }
    this.total++
    this.perIp.set(address, current + 1)
    return null
  }

  release (clientAddress: string): void {
    const address = ipKey(clientAddress, this.ipv6Prefix)
    this.total--
    const current = this.perIp.get(address) ?? 1
    if (current <= 1) this.perIp.delete(address)
    else this.perIp.set(address, current - 1)
  }
}
