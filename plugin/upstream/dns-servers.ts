import { isIPv6 } from 'node:net'
import type { ResolvedServer } from '../options/options-types.js'
import { DNS_DEFAULTS } from '../options/option-defaults.js'
import type { SrvTarget } from './name-lookup.js'

/**
 * One server of a group for one resolved address: the entry's options, the
 * address as host, and `protocol//ip:port` as its identity, so a server that
 * stays in the DNS answer stays the same server (its health and counts go
 * on) and the ketama points of an address are those nginx computes for
 * `server ip:port;`.
 */
function addressServer (entry: ResolvedServer, address: string, port: number, hostname: string, extra: Partial<ResolvedServer> = {}): ResolvedServer {
  const hostText = isIPv6(address) ? `[${address}]` : address
  return {
    ...entry,
    ...extra,
    url: `${entry.protocol}//${hostText}:${port}`,
    host: address,
    port,
    srv: false,
    dns: { entry: entry.url, hostname }
  }
}

/** The servers for the A/AAAA addresses of a host-name entry, in address order. */
export function serversForAddresses (entry: ResolvedServer, addresses: readonly string[]): ResolvedServer[] {
  return addresses.map(address => addressServer(entry, address, entry.port, entry.host))
}

/**
 * The servers for the SRV records of an entry, as nginx's `service=`: the
 * records with the lowest priority value are primaries and the others
 * backups; on a `backup` entry the lowest priority are backups and the
 * others are left out. The record's weight is the server's weight unless
 * the entry sets one other than 1 (0 counts as 1; above 1000 is capped).
 */
export function serversForSrv (entry: ResolvedServer, targets: readonly SrvTarget[]): ResolvedServer[] {
  let best = Infinity
  for (const target of targets) best = Math.min(best, target.priority)
  const servers: ResolvedServer[] = []
  for (const target of targets) {
    const lowest = target.priority === best
    if (entry.backup && !lowest) continue
    const weight = entry.weight !== 1 ? entry.weight : Math.min(Math.max(target.weight, 1), DNS_DEFAULTS.maxWeight)
    for (const address of target.addresses) {
      servers.push(addressServer(entry, address, target.port, target.target, { weight, backup: entry.backup || !lowest }))
    }
  }
  return servers.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0))
}
