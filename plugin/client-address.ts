import type { Socket } from 'node:net'

/**
 * Where the client address of a connection lives. The cluster runtime sets it
 * from the PROXY protocol header before handing the socket to the HTTP
 * server; without it the socket's peer address is used. Symbol.for keeps it
 * shared across module copies (a bundled plugin and the cluster's import).
 */
export const kClientAddress = Symbol.for('ws-cluster.client-address')

interface AddressCarrier {
  [kClientAddress]?: string
}

/** Strips the IPv4-mapped IPv6 prefix so `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
export function normalizeAddress (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
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
