import { isIP } from 'node:net'
import type { ResolvedServer, ResolvedUpstream } from './options-types.js'
import { checkDuration, got, indexPath, keyPath, type Problems } from './option-checks.js'
import { DNS_DEFAULTS, UPSTREAM_DEFAULTS } from './option-defaults.js'

const RESOLVER_ALLOWED = 'a non-empty array of DNS server addresses such as "10.96.0.10", "10.96.0.10:53" or "[fd00::10]:53"'

/** A DNS server address as `dns.Resolver#setServers` takes it: an IP, `IPv4:port` or `[IPv6]:port`. */
function isResolverAddress (value: unknown): boolean {
  if (typeof value !== 'string') return false
  if (isIP(value) !== 0) return true
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  if (match === null) return false
  const port = Number(match[3])
  const host = match[1] ?? match[2]
  return port >= 1 && port <= 65535 && (match[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4)
}

/**
 * The group options for servers given by host name: `resolveInterval`
 * (bounded, so a typo cannot make the proxy query DNS in a loop or never)
 * and `resolver` (DNS servers to ask; default the system resolver).
 */
export function resolveDnsOptions (
  value: Record<string, unknown>, path: string, problems: Problems
): Required<Pick<ResolvedUpstream, 'resolveInterval' | 'resolver'>> {
  let resolveInterval: number = UPSTREAM_DEFAULTS.resolveInterval
  if (value.resolveInterval !== undefined) {
    const intervalPath = keyPath(path, 'resolveInterval')
    const ms = checkDuration(value.resolveInterval, intervalPath, problems)
    if (ms !== undefined && (ms < DNS_DEFAULTS.resolveIntervalMin || ms > DNS_DEFAULTS.resolveIntervalMax)) {
      problems.push({ path: intervalPath, message: got(value.resolveInterval, `a duration from "${DNS_DEFAULTS.resolveIntervalMin}ms" to "24h"`) })
    } else if (ms !== undefined) {
      resolveInterval = ms
    }
  }
  let resolver: string[] | null = UPSTREAM_DEFAULTS.resolver
  if (value.resolver !== undefined) {
    const resolverPath = keyPath(path, 'resolver')
    if (!Array.isArray(value.resolver) || value.resolver.length === 0) {
      problems.push({ path: resolverPath, message: got(value.resolver, RESOLVER_ALLOWED) })
    } else {
      const list = value.resolver as unknown[]
      const bad = list.findIndex(entry => !isResolverAddress(entry))
      if (bad === -1) resolver = list as string[]
      else problems.push({ path: indexPath(resolverPath, bad), message: got(list[bad], RESOLVER_ALLOWED.replace('a non-empty array of ', 'a ').replace('addresses', 'address')) })
    }
  }
  return { resolveInterval, resolver }
}

/** True for a server whose host is a name to resolve (or an SRV name), false for an IP literal. */
export function needsResolution (server: Pick<ResolvedServer, 'host' | 'srv'>): boolean {
  return server.srv === true || isIP(server.host) === 0
}

/**
 * `srv: true` needs a name and no port: the records give the ports, and a
 * port written in the URL would silently mean nothing.
 */
export function checkSrvServer (url: string, host: string, path: string, problems: Problems): void {
  if (isIP(host) !== 0) {
    problems.push({ path: keyPath(path, 'url'), message: got(url, 'with srv: true, a URL whose host is an SRV name such as "http://_ws._tcp.chat.example"') })
    return
  }
  // new URL() drops a port equal to the scheme's default, so look at the text.
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1] ?? ''
  if (/:\d*$/.test(authority)) {
    problems.push({ path: keyPath(path, 'url'), message: got(url, 'with srv: true, no port in the URL (the SRV records give the ports), e.g. "http://_ws._tcp.chat.example"') })
  }
}
