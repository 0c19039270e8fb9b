import type { IncomingMessage } from 'node:http'
import { isIPv6, type Socket } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Where the client address of a connection lives. The cluster runtime sets it
 * from the PROXY protocol header before handing the socket to the HTTP
 * server; without it the socket's peer address is used. Symbol.for keeps it
 * shared across module copies (a bundled plugin and the cluster's import).
 */
const kClientAddress = Symbol.for('ws-cluster.client-address')

interface AddressCarrier {
  [kClientAddress]?: string
}

/** Strips the IPv4-mapped IPv6 prefix so `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
export function normalizeAddress (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/**
 * The key per-client limits count a client address under: the address
 * itself, except that an IPv6 address is reduced to its network when
 * `ipv6Prefix` is below 128 (`2001:db8:1:2::/64`). One IPv6 subscriber
 * usually holds a whole /64, so counting single addresses would let one
 * client take as many slots as it has addresses to pick from. IPv4
 * addresses (IPv4-mapped ones included, once normalized) are never grouped.
 * The per-IP limits, the connection rate and the cluster's sticky hashing
 * all use this one function, so they agree on who "one client" is.
 *
 * @example
 * ipKey('2001:db8:1:2:aaaa::7', 64) // '2001:db8:1:2::/64'
 * ipKey('203.0.113.7', 64)          // '203.0.113.7'
 */
export function ipKey (address: string, ipv6Prefix: number): string {
  if (ipv6Prefix >= 128 || !address.includes(':')) return address
  // A zone index (fe80::1%eth0) names an interface, not part of the address.
  const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address
  if (!isIPv6(bare)) return address
  const parsed = ipaddr.IPv6.parse(bare)
  // Every IPv4 client would otherwise share the one key ::ffff:0:0/64.
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString()
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${bare}/${ipv6Prefix}`).toRFC5952String()
  return `${network}/${ipv6Prefix}`
}

/**
 * Records the real client address for `socket` (for example the source of a
 * PROXY protocol header). X-Forwarded-For, X-Real-IP, ip-hash and per-IP limits
 * all read it through {@link clientAddressOf}.
 *
 * @example
 * setClientAddress(socket, header.sourceAddress)
 * server.emit('connection', socket)
 */
export function setClientAddress (socket: Socket, address: string): void {
  (socket as Socket & AddressCarrier)[kClientAddress] = normalizeAddress(address)
}

/** The client address of a connection: the recorded one, else the peer address, normalized. */
export function clientAddressOf (socket: Socket): string {
  const recorded = (socket as Socket & AddressCarrier)[kClientAddress]
  if (recorded !== undefined) return recorded
  const peer = socket.remoteAddress
  return peer === undefined ? '' : normalizeAddress(peer)
}

/** The identity headers a proxy adds for its upstream (nginx `proxy_set_header X-Real-IP ...` and friends). */
export interface ForwardedValues {
  'x-forwarded-for': string
  'x-real-ip': string
  'x-forwarded-proto': 'http' | 'https'
  'x-forwarded-host'?: string
}

/** Header names the proxy owns when forwarded headers are on: the client's copies are replaced, not passed. */
export const FORWARDED_NAMES = new Set(['x-forwarded-for', 'x-real-ip', 'x-forwarded-proto', 'x-forwarded-host'])

/**
 * R30: X-Forwarded-For appends the client to what earlier proxies wrote
 * (nginx `$proxy_add_x_forwarded_for`); X-Real-IP is the client; the proto is
 * the scheme of the client's connection (`http`/`https`, never `ws`/`wss`).
 * `Forwarded` is not touched: it passes as any end-to-end header.
 */
export function forwardedValues (req: IncomingMessage, clientAddress: string, encrypted: boolean): ForwardedValues {
  const incoming = req.headers['x-forwarded-for']
  const prior = Array.isArray(incoming) ? incoming.join(', ') : incoming
  const values: ForwardedValues = {
    'x-forwarded-for': prior === undefined || prior === '' ? clientAddress : `${prior}, ${clientAddress}`,
    'x-real-ip': clientAddress,
    'x-forwarded-proto': encrypted ? 'https' : 'http'
  }
  const host = req.headers.host
  if (host !== undefined) values['x-forwarded-host'] = host
  return values
}
