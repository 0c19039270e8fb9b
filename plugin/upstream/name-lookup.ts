import { promises as dns } from 'node:dns'
import { isIP } from 'node:net'
import { DNS_DEFAULTS } from '../options/option-defaults.js'

/** The addresses a name has now; `ttl` in seconds, null when the resolver gives none (getaddrinfo). */
export interface AddressAnswer {
  addresses: string[]
  ttl: number | null
}

/** One SRV record with the addresses of its target. */
export interface SrvTarget {
  target: string
  port: number
  priority: number
  weight: number
  addresses: string[]
}

// Answers that say the name has no address ("does not exist", "no record of this type"): a
// real answer, unlike a timeout or a server failure. EAI_NONAME reaches Node as ENOTFOUND.
const ABSENT_CODES = new Set(['ENOTFOUND', 'ENODATA'])

/** True when `err` says the name has no addresses, rather than that DNS could not be asked. */
export function isAbsentName (err: unknown): boolean {
  return ABSENT_CODES.has((err as NodeJS.ErrnoException).code ?? '')
}

/** The error code of a failed resolution (`ENOTFOUND`, `ETIMEOUT`, `ECONNREFUSED`, …). */
export function errorCode (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'ERROR'
}

/**
 * Asks DNS for the addresses of upstream host names, never blocking the
 * event loop. With `servers` (the group's `resolver`), queries go to those
 * DNS servers through c-ares with TTLs, A and AAAA both. Without, names go
 * through getaddrinfo like `net.connect` does (/etc/hosts, search domains,
 * nsswitch), which gives no TTL; SRV records, which getaddrinfo cannot
 * read, then go to the system's DNS servers.
 *
 * @example
 * const lookup = new NameLookup(['127.0.0.1:5353'])
 * const { addresses, ttl } = await lookup.addresses('chat.default.svc.cluster.local')
 */
export class NameLookup {
  private readonly resolver: dns.Resolver
  private readonly direct: boolean

  constructor (servers: readonly string[] | null) {
    this.resolver = new dns.Resolver({ timeout: DNS_DEFAULTS.queryTimeout, tries: DNS_DEFAULTS.queryTries })
    this.direct = servers !== null
    if (servers !== null) this.resolver.setServers([...servers])
  }

  /** Every IPv4 and IPv6 address of `host`, sorted so that the same set always comes in the same order. */
  async addresses (host: string): Promise<AddressAnswer> {
    if (isIP(host) !== 0) return { addresses: [host], ttl: null }
    if (!this.direct) {
      const found = await dns.lookup(host, { all: true, verbatim: true })
      return { addresses: sortAddresses(found.map(entry => entry.address)), ttl: null }
    }
    const [v4, v6] = await Promise.allSettled([
      this.resolver.resolve4(host, { ttl: true }),
      this.resolver.resolve6(host, { ttl: true })
    ])
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])]
    const failures = [v4, v6].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map(r => r.reason as unknown)
    // A family that answered with addresses is used even when the other timed out:
    // resolvers that mishandle AAAA must not leave an IPv4 service without servers.
    if (records.length === 0) {
      const transient = failures.find(err => !isAbsentName(err))
      if (transient !== undefined) throw transient
      if (failures.length > 0) throw failures.find(err => errorCode(err) === 'ENOTFOUND') ?? failures[0]
      throw Object.assign(new Error(`${host} has no A or AAAA records`), { code: 'ENODATA' })
    }
    let ttl = Infinity
    for (const record of records) ttl = Math.min(ttl, record.ttl)
    return { addresses: sortAddresses(records.map(record => record.address)), ttl }
  }

  /** The SRV records of `name`, each with its target's addresses; `ttl` is the shortest of the targets'. */
  async srv (name: string): Promise<{ targets: SrvTarget[], ttl: number | null }> {
    const records = await this.resolver.resolveSrv(name)
    // A target without addresses drops out; one DNS could not answer for fails the whole
    // resolution, so the last good set stays rather than losing that target's servers.
    const answers = await Promise.all(records.map(async (record): Promise<AddressAnswer> => {
      try {
        return await this.addresses(record.name)
      } catch (err) {
        if (isAbsentName(err)) return { addresses: [], ttl: null }
        throw err
      }
    }))
    let ttl: number | null = null
    const targets: SrvTarget[] = records.map((record, i) => {
      const answerTtl = answers[i].ttl
      if (answerTtl !== null) ttl = ttl === null ? answerTtl : Math.min(ttl, answerTtl)
      return { target: record.name, port: record.port, priority: record.priority, weight: record.weight, addresses: answers[i].addresses }
    })
    return { targets, ttl }
  }

  /** Ends queries in flight (they fail with ECANCELLED); getaddrinfo calls cannot be cancelled and are ignored by the caller. */
  cancel (): void {
    this.resolver.cancel()
  }
}

/** Unique addresses, IPv4 first, each family in a fixed order. */
function sortAddresses (addresses: string[]): string[] {
  return [...new Set(addresses)].sort((a, b) => (isIP(a) - isIP(b)) || (a < b ? -1 : a > b ? 1 : 0))
}
