import { SocketAddress, isIPv4, isIPv6 } from 'node:net'

/** The PROXY protocol header a load balancer puts before the client's bytes (HAProxy spec, v1 text and v2 binary). */
export interface ProxyHeader {
  version: 1 | 2
  /** `LOCAL` (v2 only): the balancer's own connection, e.g. a health check; use the real peer address. */
  command: 'PROXY' | 'LOCAL'
  /** `UNKNOWN`: v1 UNKNOWN, or a v2 UNSPEC, UDP or AF_UNIX block; use the real peer address. */
  family: 'TCP4' | 'TCP6' | 'UNKNOWN'
  sourceAddress: string | null
  sourcePort: number | null
  destinationAddress: string | null
  destinationPort: number | null
}

export type ParseResult =
  | { status: 'incomplete' }
  | { status: 'invalid', reason: string }
  | { status: 'done', header: ProxyHeader, consumed: number }

/** Longest v1 header the spec allows, CRLF included. */
export const PROXY_V1_MAX = 107

/**
 * Longest v2 address block (addresses + TLVs) accepted. The spec allows up to
 * 65535 bytes, but what balancers send is far smaller: the largest address
 * block (AF_UNIX) is 216 bytes, and the TLVs of HAProxy, AWS, GCP and Azure
 * add at most a few hundred more. A bigger declared length is refused as soon
 * as the 16-byte fixed part arrived, so a connection can never make the
 * primary buffer 64 KiB for it.
 */
export const PROXY_V2_MAX_LENGTH = 4096

/** The fixed part of a v2 header: signature, version/command, family, length. */
export const PROXY_V2_FIXED = 16

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_HEADER = PROXY_V2_FIXED
const PORT_RE = /^(0|[1-9]\d{0,4})$/

const INCOMPLETE: ParseResult = { status: 'incomplete' }

function invalid (reason: string): ParseResult {
  return { status: 'invalid', reason }
}

/** True when `buf` is a (possibly empty) prefix of `full`, or `full` is a prefix of `buf`. */
function startsLike (buf: Buffer, full: Buffer): boolean {
  const n = Math.min(buf.length, full.length)
  return buf.subarray(0, n).equals(full.subarray(0, n))
}

/** One spelling per address, so the same client always hashes to the same key. */
function canonicalIPv6 (text: string): string {
  return new SocketAddress({ address: text, family: 'ipv6' }).address
}

function parsePort (text: string): number | null {
  if (!PORT_RE.test(text)) return null
  const port = Number(text)
  return port <= 65535 ? port : null
}

function parseV1 (buf: Buffer): ParseResult {
  // The CR of CRLF may sit at index PROXY_V1_MAX - 2 at the latest.
  const crLimit = PROXY_V1_MAX - 2
  const scanEnd = Math.min(buf.length, crLimit + 1)
  let end = -1
  for (let i = V1_PREFIX.length; i < scanEnd; i++) {
    const byte = buf[i]
    if (byte === 0x0d) {
      if (i + 1 >= buf.length) return INCOMPLETE
      if (buf[i + 1] !== 0x0a) return invalid('v1 header: CR not followed by LF')
      end = i
      break
    }
    // The header is plain ASCII; anything else means this is not a PROXY header.
    if (byte < 0x20 || byte > 0x7e) return invalid(`v1 header: unexpected byte 0x${byte.toString(16).padStart(2, '0')} at offset ${i}`)
  }
  if (end === -1) return buf.length > crLimit ? invalid(`v1 header longer than ${PROXY_V1_MAX} bytes`) : INCOMPLETE
  const line = buf.toString('latin1', 0, end)
  const consumed = end + 2
  const parts = line.split(' ')
  const family = parts[1]
  if (family === 'UNKNOWN') {
    // The spec tells receivers to ignore whatever follows UNKNOWN.
    return { status: 'done', consumed, header: { version: 1, command: 'PROXY', family: 'UNKNOWN', sourceAddress: null, sourcePort: null, destinationAddress: null, destinationPort: null } }
  }
  if (family !== 'TCP4' && family !== 'TCP6') return invalid(`v1 header: unknown protocol ${JSON.stringify(family ?? '')}; allowed: TCP4, TCP6, UNKNOWN`)
  if (parts.length !== 6) return invalid(`v1 header: expected "PROXY ${family} SRC DST SPORT DPORT", got ${JSON.stringify(line)}`)
  const [, , src, dst, sport, dport] = parts
  // A zone id (`fe80::1%eth0`) names an interface of the sender, meaningless here.
  const isFamily = family === 'TCP4' ? isIPv4 : (a: string) => isIPv6(a) && !a.includes('%')
  if (!isFamily(src)) return invalid(`v1 header: source ${JSON.stringify(src)} is not an ${family === 'TCP4' ? 'IPv4' : 'IPv6'} address`)
  if (!isFamily(dst)) return invalid(`v1 header: destination ${JSON.stringify(dst)} is not an ${family === 'TCP4' ? 'IPv4' : 'IPv6'} address`)
  const sourcePort = parsePort(sport)
  if (sourcePort === null) return invalid(`v1 header: source port ${JSON.stringify(sport)} is not an integer from 0 to 65535`)
  const destinationPort = parsePort(dport)
  if (destinationPort === null) return invalid(`v1 header: destination port ${JSON.stringify(dport)} is not an integer from 0 to 65535`)
  return {
    status: 'done',
    consumed,
    header: {
      version: 1,
      command: 'PROXY',
      family,
      sourceAddress: family === 'TCP4' ? src : canonicalIPv6(src),
      sourcePort,
      destinationAddress: family === 'TCP4' ? dst : canonicalIPv6(dst),
      destinationPort
    }
  }
}

function ipv4At (buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`
}

function ipv6At (buf: Buffer, offset: number): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(offset + i).toString(16))
  return canonicalIPv6(groups.join(':'))
}

function parseV2 (buf: Buffer): ParseResult {
  if (buf.length < V2_HEADER) return INCOMPLETE
  const versionCommand = buf[12]
  if (versionCommand >> 4 !== 2) return invalid(`v2 header: version ${versionCommand >> 4}; only 2 is defined`)
  const commandBits = versionCommand & 0x0f
  if (commandBits > 1) return invalid(`v2 header: command ${commandBits}; allowed: 0 (LOCAL), 1 (PROXY)`)
  const familyByte = buf[13]
  const length = buf.readUInt16BE(14)
  if (length > PROXY_V2_MAX_LENGTH) return invalid(`v2 header: address block of ${length} bytes; at most ${PROXY_V2_MAX_LENGTH} are accepted`)
  // Families above AF_UNIX and transports above DGRAM "must be rejected as invalid by receivers".
  if (familyByte >> 4 > 3 || (familyByte & 0x0f) > 2) {
    return invalid(`v2 header: address family/protocol 0x${familyByte.toString(16).padStart(2, '0')} is not defined; allowed: family 0-3 (UNSPEC, INET, INET6, UNIX) with protocol 0-2 (UNSPEC, STREAM, DGRAM)`)
  }
  const consumed = V2_HEADER + length
  if (buf.length < consumed) return INCOMPLETE
  const none = { sourceAddress: null, sourcePort: null, destinationAddress: null, destinationPort: null }
  // LOCAL: the spec says to ignore the address block and use the real peer.
  if (commandBits === 0) return { status: 'done', consumed, header: { version: 2, command: 'LOCAL', family: 'UNKNOWN', ...none } }
  if (familyByte === 0x11) {
    if (length < 12) return invalid(`v2 header: TCP4 needs 12 address bytes, length is ${length}`)
    return {
      status: 'done',
      consumed,
      header: { version: 2, command: 'PROXY', family: 'TCP4', sourceAddress: ipv4At(buf, 16), destinationAddress: ipv4At(buf, 20), sourcePort: buf.readUInt16BE(24), destinationPort: buf.readUInt16BE(26) }
    }
  }
  if (familyByte === 0x21) {
    if (length < 36) return invalid(`v2 header: TCP6 needs 36 address bytes, length is ${length}`)
    return {
      status: 'done',
      consumed,
      header: { version: 2, command: 'PROXY', family: 'TCP6', sourceAddress: ipv6At(buf, 16), destinationAddress: ipv6At(buf, 32), sourcePort: buf.readUInt16BE(48), destinationPort: buf.readUInt16BE(50) }
    }
  }
  // UNSPEC, UDP and AF_UNIX: the spec lets the receiver accept the connection with the
  // real peer address, which is what a TCP proxy has to do (such a source is no client IP).
  return { status: 'done', consumed, header: { version: 2, command: 'PROXY', family: 'UNKNOWN', ...none } }
}

/**
 * Parses a PROXY protocol v1 or v2 header at the start of `buf`. Call it
 * again with all bytes received so far while it answers `incomplete`; on
 * `done`, `consumed` is the exact header length and every byte after it
 * belongs to the client. Anything that is not a well-formed header is
 * `invalid` with a reason (R32: the caller then closes the connection without
 * sending a byte). TLVs of v2 are skipped, not interpreted.
 *
 * @example
 * const result = parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 5000 8080\r\nGET / HTTP/1.1\r\n'))
 * // { status: 'done', consumed: 42, header: { version: 1, family: 'TCP4', sourceAddress: '192.0.2.1', ... } }
 */
export function parseProxyHeader (buf: Buffer): ParseResult {
  if (buf.length === 0) return INCOMPLETE
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buf)
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(buf)
  return invalid('no PROXY protocol header: the connection does not start with "PROXY " or the v2 signature')
}
