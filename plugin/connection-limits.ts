/**
 * R34/R35: counts open tunnels plus handshakes in progress, overall and per
 * client address (nginx `worker_connections` / `limit_conn`). A slot is taken
 * before the upstream is contacted and given back when the tunnel closes or
 * the handshake fails.
 */
export class ConnectionLimits {
  private total = 0
  private readonly perIp = new Map<string, number>()

  constructor (private maxConnections: number, private maxPerIp: number) {}

  /** New limits (an update): slots already taken stay taken; only new ones are checked against these. */
  setLimits (maxConnections: number, maxPerIp: number): void {
    this.maxConnections = maxConnections
    this.maxPerIp = maxPerIp
  }

  /** Takes a slot for `address`; returns why it cannot, or null on success. */
  tryAcquire (address: string): string | null {
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

  release (address: string): void {
    this.total--
    const current = this.perIp.get(address) ?? 1
    if (current <= 1) this.perIp.delete(address)
    else this.perIp.set(address, current - 1)
  }
}
