import type { ResolvedServer } from '../options/options-types.js'

/** What `stats()` and the admin `/status` show for one server given by host name (R46). */
export interface DnsNameStatus {
  /** The configured URL (`http://chat.default.svc.cluster.local:9000`). */
  name: string
  /** `address` (A and AAAA records, or getaddrinfo) or `srv`. */
  type: 'address' | 'srv'
  /** The servers it gives now, `protocol//ip:port`: the last good answer. */
  addresses: string[]
  /** Epoch ms of the last answer (addresses, or "no such name"); null until the first. */
  resolvedAt: number | null
  /** Epoch ms of the next resolution; null once stopped. */
  nextResolveAt: number | null
  /** Shortest TTL of the last answer in seconds; null when the resolver gives none (the system resolver). */
  ttl: number | null
  /** Why the last resolution failed or found nothing; null after one that found addresses. */
  lastError: { code: string, message: string, at: number } | null
}

/**
 * The state of one host-name entry of a group: its schedule and what the
 * last resolutions said. Owned by {@link UpstreamDns}; read for stats.
 */
export class NameState {
  readonly name: string
  readonly type: 'address' | 'srv'
  addresses: string[] = []
  resolvedAt: number | null = null
  nextResolveAt: number | null = null
  lastAttemptAt = 0
  ttl: number | null = null
  lastError: DnsNameStatus['lastError'] = null
  timer: NodeJS.Timeout | null = null
  inFlight = false

  constructor (readonly index: number, readonly entry: ResolvedServer) {
    this.name = entry.url
    this.type = entry.srv === true ? 'srv' : 'address'
  }

  /** An answer came: these are the servers now. */
  answered (servers: readonly ResolvedServer[], ttl: number | null, now: number): void {
    this.addresses = servers.map(server => server.url)
    this.resolvedAt = now
    this.ttl = ttl
    this.lastError = null
  }

  /** The name does not exist or has no records: an answer too, with no servers. */
  absent (err: Error & { code?: string }, now: number): void {
    this.addresses = []
    this.resolvedAt = now
    this.ttl = null
    this.failed(err, now)
  }

  /** DNS could not be asked (timeout, refused, server failure): the addresses stay. */
  failed (err: Error & { code?: string }, now: number): void {
    this.lastError = { code: err.code ?? 'ERROR', message: err.message, at: now }
  }

  toJSON (): DnsNameStatus {
    return {
      name: this.name,
      type: this.type,
      addresses: [...this.addresses],
      resolvedAt: this.resolvedAt,
      nextResolveAt: this.nextResolveAt,
      ttl: this.ttl,
      lastError: this.lastError === null ? null : { ...this.lastError }
    }
  }
}
