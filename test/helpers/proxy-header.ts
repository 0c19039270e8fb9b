import { isIPv4 } from 'node:net'

/** A PROXY protocol v1 line, as an L4 load balancer sends it. */
export function proxyV1 (source: string, sourcePort: number, destination: string, destinationPort: number): Buffer {
  const family = isIPv4(source) ? 'TCP4' : 'TCP6'
  return Buffer.from(`PROXY ${family} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`, 'latin1')
}

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

function ipv6Bytes (address: string): Buffer {
  const [head = '', tail = ''] = address.split('::')
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const zeros = 8 - headParts.length - tailParts.length
  const groups = [...headParts, ...Array.from({ length: address.includes('::') ? zeros : 0 }, () => '0'), ...tailParts]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2))
  return out
}

/**
 * A PROXY protocol v2 header (binary), PROXY or LOCAL command, with optional
 * TLVs appended after the addresses (the parser must skip them).
 */
export function proxyV2 (opts: { command?: 'PROXY' | 'LOCAL', source: string, sourcePort: number, destination: string, destinationPort: number, tlvs?: Array<{ type: number, value: Buffer }> }): Buffer {
  const v4 = isIPv4(opts.source)
  const addresses = v4
    ? Buffer.concat([Buffer.from(opts.source.split('.').map(Number)), Buffer.from(opts.destination.split('.').map(Number))])
    : Buffer.concat([ipv6Bytes(opts.source), ipv6Bytes(opts.destination)])
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(opts.sourcePort, 0)
  ports.writeUInt16BE(opts.destinationPort, 2)
  const tlvs = (opts.tlvs ?? []).map(({ type, value }) => {
    const head = Buffer.alloc(3)
    head.writeUInt8(type, 0)
    head.writeUInt16BE(value.length, 1)
    return Buffer.concat([head, value])
  })
  const body = Buffer.concat([addresses, ports, ...tlvs])
  const head = Buffer.alloc(4)
  head.writeUInt8(opts.command === 'LOCAL' ? 0x20 : 0x21, 0)
  head.writeUInt8(v4 ? 0x11 : 0x21, 1)
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([SIGNATURE, head, body])
}
