import { BlockList, isIPv4, isIPv6 } from 'node:net'

/**
 * What `listen.trustedProxies` becomes when `proxyProtocol` is on and no
 * proxies are listed: a load balancer on the same host (HAProxy, a sidecar).
 * Trusting nobody would make the PROXY header useless; trusting everybody
 * would let any client choose its own address (and so its worker and per-IP
 * limit), so loopback is the only safe default.
 */
export const LOOPBACK_PROXIES: readonly string[] = ['127.0.0.0/8', '::1']

type Family = 'ipv4' | 'ipv6'

interface TrustEntry {
  kind: 'address' | 'subnet'
  family: Family
  address: string
  prefix: number
}

const PREFIX_RE = /^(0|[1-9]\d{0,2})$/

/** Strips `::ffff:` from IPv4-mapped IPv6 so a dual-stack socket's peer matches IPv4 rules. */
function unmap (address: string): string {
  const lower = address.toLowerCase()
  return lower.startsWith('::ffff:') && isIPv4(lower.slice(7)) ? lower.slice(7) : address
}

function familyOf (address: string): Family | null {
  if (isIPv4(address)) return 'ipv4'
  if (isIPv6(address)) return 'ipv6'
  return null
}

function parseEntry (entry: string): TrustEntry | string {
  const text = entry.trim()
  const slash = text.indexOf('/')
  if (slash === -1) {
    const address = unmap(text)
    const family = familyOf(address)
    if (family === null) return 'not an IPv4 or IPv6 address'
    return { kind: 'address', family, address, prefix: family === 'ipv4' ? 32 : 128 }
  }
  const address = unmap(text.slice(0, slash))
  const family = familyOf(address)
  if (family === null) return `"${text.slice(0, slash)}" is not an IPv4 or IPv6 address`
  const prefixText = text.slice(slash + 1)
  const max = family === 'ipv4' ? 32 : 128
  const prefix = PREFIX_RE.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix >= 0 && prefix <= max)) return `prefix length "${prefixText}" is not an integer from 0 to ${max}`
  return { kind: 'subnet', family, address, prefix }
}

/**
 * Why `entry` is not a valid trusted-proxy entry, or null when it is. Used by
 * the config validator so that every bad entry is reported with its path.
 */
export function trustEntryProblem (entry: unknown): string | null {
  if (typeof entry !== 'string') return 'must be a string: an IP address or a CIDR range such as "10.0.0.0/8"'
  const parsed = parseEntry(entry)
  return typeof parsed === 'string' ? `${JSON.stringify(entry)}: ${parsed}; allowed: an IP address or a CIDR range such as "10.0.0.0/8" or "fd00::/8"` : null
}

/**
 * Builds a predicate telling whether a peer address belongs to a trusted
 * proxy (nginx `set_real_ip_from`). Entries are IPv4/IPv6 addresses or CIDR
 * ranges; IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`) match IPv4 entries.
 * Node's `net.BlockList` does the matching, so lookups cost no parsing of
 * the rules per connection. Throws a TypeError on an invalid entry.
 *
 * @example
 * const isTrusted = createTrustChecker(['10.0.0.0/8', '::1'])
 * isTrusted('::ffff:10.1.2.3') // true
 * isTrusted('192.0.2.1')       // false
 */
export function createTrustChecker (cidrsOrAddresses: string[]): (address: string) => boolean {
  const list = new BlockList()
  for (const entry of cidrsOrAddresses) {
    const parsed = parseEntry(entry)
    if (typeof parsed === 'string') throw new TypeError(`Invalid trusted proxy ${JSON.stringify(entry)}: ${parsed}`)
    if (parsed.kind === 'address') list.addAddress(parsed.address, parsed.family)
    else list.addSubnet(parsed.address, parsed.prefix, parsed.family)
  }
  if (cidrsOrAddresses.length === 0) return () => false
  return (address: string): boolean => {
    if (typeof address !== 'string') return false
    const peer = unmap(address)
    const family = familyOf(peer)
    return family !== null && list.check(peer, family)
  }
}
