import type { FastifyBaseLogger } from 'fastify'
import { DNS_DEFAULTS, UPSTREAM_DEFAULTS } from '../options/option-defaults.js'
import { needsResolution } from '../options/validate-dns.js'
import type { ResolvedServer } from '../options/options-types.js'
import { WarningThrottle } from '../warning-throttle.js'
import { serversForAddresses, serversForSrv } from './dns-servers.js'
import { NameState } from './dns-status.js'
import { errorCode, isAbsentName, NameLookup } from './name-lookup.js'
import type { UpstreamGroup } from './upstream-group.js'
import type { UpstreamServer } from './upstream-server.js'

/**
 * Keeps the servers of a group's host-name entries in step with DNS
 * (R44–R47): each name is resolved at start, again every
 * `resolveInterval` (sooner when the answer's TTL is shorter, never sooner
 * than 1 s), and early when one of its servers fails. An answer replaces the
 * name's servers in the group; a name that does not exist leaves it none;
 * a resolver that cannot be asked leaves the last good set and says so in
 * the log (throttled) and in stats. Resolution runs beside the connection
 * path: picks always use the set in place.
 *
 * @example
 * const dns = new UpstreamDns(group, fastify.log)
 * await dns.start()     // first answers (bounded wait)
 * // ... on close:
 * dns.stop()
 */
export class UpstreamDns {
  private readonly names: NameState[] = []
  private readonly lookup: NameLookup
  private readonly warnings: WarningThrottle
  private readonly interval: number
  private readonly floor: number
  private stopped = false

  constructor (private readonly group: UpstreamGroup, private readonly log: FastifyBaseLogger) {
    const { config } = group
    config.servers.forEach((entry, index) => {
      if (needsResolution(entry)) this.names.push(new NameState(index, entry))
    })
    this.lookup = new NameLookup(config.resolver ?? null)
    this.warnings = new WarningThrottle(log)
    this.interval = config.resolveInterval ?? UPSTREAM_DEFAULTS.resolveInterval
    this.floor = Math.min(DNS_DEFAULTS.minInterval, this.interval)
    if (this.names.length === 0) return
    group.dnsStatus = () => this.names.map(name => name.toJSON())
    group.onFailure = this.serverFailed
    this.updateNoServersReason()
  }

  /** True when the group has servers given by host name. */
  get active (): boolean {
    return this.names.length > 0
  }

  /** Resolves every name once; resolves when all have answered or failed, or after a bounded wait. Never rejects. */
  async start (): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>(resolve => { timer = setTimeout(resolve, DNS_DEFAULTS.startWait) })
    await Promise.race([Promise.all(this.names.map(async name => await this.resolve(name))), waited])
    clearTimeout(timer)
  }

  /** Clears every timer and ignores answers still on their way (onClose). */
  stop (): void {
    this.stopped = true
    for (const name of this.names) {
      if (name.timer !== null) clearTimeout(name.timer)
      name.timer = null
      name.nextResolveAt = null
    }
    this.lookup.cancel()
  }

  /** A connection to `server` failed: if DNS gave it, ask again soon, at most once per second per name. */
  private readonly serverFailed = (server: UpstreamServer): void => {
    const origin = server.config.dns
    if (origin === undefined || this.stopped) return
    const name = this.names.find(candidate => candidate.name === origin.entry)
    if (name === undefined || name.inFlight) return
    const due = name.lastAttemptAt + this.floor
    if (name.nextResolveAt !== null && name.nextResolveAt <= due) return
    this.schedule(name, Math.max(0, due - Date.now()))
  }

  private schedule (name: NameState, delay: number): void {
    if (this.stopped) return
    if (name.timer !== null) clearTimeout(name.timer)
    name.nextResolveAt = Date.now() + delay
    name.timer = setTimeout(() => {
      name.timer = null
      this.resolve(name).catch(() => {})
    }, delay)
    // A pending re-resolution alone must not keep the process alive.
    name.timer.unref()
  }

  private async resolve (name: NameState): Promise<void> {
    if (name.inFlight || this.stopped) return
    name.inFlight = true
    name.lastAttemptAt = Date.now()
    let next = this.interval
    try {
      const { servers, ttl } = await this.query(name.entry)
      if (this.stopped) return
      name.answered(servers, ttl, Date.now())
      this.apply(name, servers)
      if (ttl !== null) next = Math.min(this.interval, Math.max(this.floor, ttl * 1000))
    } catch (err) {
      if (this.stopped) return
      const error = err as Error & { code?: string }
      next = Math.min(this.interval, DNS_DEFAULTS.retryInterval)
      if (isAbsentName(err)) {
        name.absent(error, Date.now())
        this.apply(name, [])
      } else {
        name.failed(error, Date.now())
        this.warnings.warn(`dns:${this.group.name}:${name.name}`, {
          upstream: this.group.name, name: name.name, code: errorCode(err), err: error, addresses: name.addresses
        }, name.resolvedAt === null
          ? 'upstream name could not be resolved: it has no servers until it resolves'
          : 'upstream name could not be resolved: keeping the last good addresses')
      }
    } finally {
      name.inFlight = false
    }
    this.updateNoServersReason()
    this.schedule(name, next)
  }

  private async query (entry: ResolvedServer): Promise<{ servers: ResolvedServer[], ttl: number | null }> {
    if (entry.srv === true) {
      const { targets, ttl } = await this.lookup.srv(entry.host)
      return { servers: serversForSrv(entry, targets), ttl }
    }
    const { addresses, ttl } = await this.lookup.addresses(entry.host)
    return { servers: serversForAddresses(entry, addresses), ttl }
  }

  private apply (name: NameState, servers: readonly ResolvedServer[]): void {
    const { added, removed } = this.group.setEntryServers(name.index, servers)
    if (added.length + removed.length === 0) return
    const fields = {
      upstream: this.group.name,
      name: name.name,
      addresses: name.addresses,
      added: added.map(server => server.id),
      removed: removed.map(server => server.id),
      // Removed servers' tunnels are left to finish: only new connections avoid them.
      drainingTunnels: removed.reduce((sum, server) => sum + server.active, 0)
    }
    if (name.addresses.length === 0) {
      this.log.error({ ...fields, code: name.lastError?.code }, 'upstream name resolved to no address')
    } else {
      this.log.info(fields, 'upstream addresses changed')
    }
  }

  /** Names the names behind an empty group, for the 502's log line. */
  private updateNoServersReason (): void {
    if (this.group.servers.length > 0) {
      this.group.noServersReason = null
      return
    }
    const parts = this.names.map(name => name.lastError !== null
      ? `${name.name} did not resolve (${name.lastError.code})`
      : name.resolvedAt === null ? `${name.name} has not resolved yet` : `${name.name} resolved to no address`)
    this.group.noServersReason = `no server has an address: ${parts.join('; ')}`
  }
}
