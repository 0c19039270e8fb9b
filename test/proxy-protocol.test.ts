import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { setImmediate as tick } from 'node:timers/promises'
import { PROXY_V1_MAX, PROXY_V2_MAX_LENGTH, parseProxyHeader, type ParseResult, type ProxyHeader } from '../cluster/primary/proxy-protocol.js'
import { readProxyHeader, type ProxyRead, type ProxyRefusal } from '../cluster/primary/proxy-protocol-reader.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// A small encoder, written from the HAProxy PROXY protocol spec, so that the
// parser is tested against headers built independently of it.

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

function v1 (family: string, src = '', dst = '', sport = '', dport = ''): Buffer {
  const fields = family === 'UNKNOWN' && src === '' ? ['PROXY', family] : ['PROXY', family, src, dst, sport, dport]
  return Buffer.from(fields.join(' ') + '\r\n', 'latin1')
}

function ipv4Bytes (address: string): Buffer {
  return Buffer.from(address.split('.').map(Number))
}

function ipv6Bytes (address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === null || tail === '' ? [] : tail.split(':')
  const groups = tail === null ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

function tlv (type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3)
  head[0] = type
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

interface V2Spec {
  version?: number
  command: number
  familyByte: number
  addresses?: Buffer
  tlvs?: Buffer[]
}

function v2 (spec: V2Spec): Buffer {
  const body = Buffer.concat([spec.addresses ?? Buffer.alloc(0), ...(spec.tlvs ?? [])])
  const head = Buffer.alloc(4)
  head[0] = ((spec.version ?? 2) << 4) | spec.command
  head[1] = spec.familyByte
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([SIGNATURE, head, body])
}

function ports (sport: number, dport: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16BE(sport, 0)
  b.writeUInt16BE(dport, 2)
  return b
}

function v2Tcp4 (src: string, dst: string, sport: number, dport: number, tlvs: Buffer[] = []): Buffer {
  return v2({ command: 1, familyByte: 0x11, addresses: Buffer.concat([ipv4Bytes(src), ipv4Bytes(dst), ports(sport, dport)]), tlvs })
}

function v2Tcp6 (src: string, dst: string, sport: number, dport: number, tlvs: Buffer[] = []): Buffer {
  return v2({ command: 1, familyByte: 0x21, addresses: Buffer.concat([ipv6Bytes(src), ipv6Bytes(dst), ports(sport, dport)]), tlvs })
}

function expectDone (result: ParseResult): { header: ProxyHeader, consumed: number } {
  assert.equal(result.status, 'done', `expected done, got ${JSON.stringify(result)}`)
  return result as { status: 'done', header: ProxyHeader, consumed: number }
}

function expectInvalid (result: ParseResult, pattern: RegExp): void {
  assert.equal(result.status, 'invalid', `expected invalid, got ${JSON.stringify(result)}`)
  assert.match((result as { reason: string }).reason, pattern)
}

// R38: the parser tests open nothing; the file-wide check covers the socket test too.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

const PAYLOAD = Buffer.from('GET /ws HTTP/1.1\r\nHost: example\r\n\r\n')

test('R32 PROXY v1 TCP4: addresses and ports parsed, consumed is exactly the header', () => {
  const header = v1('TCP4', '192.0.2.10', '127.0.0.1', '51234', '8080')
  const { header: h, consumed } = expectDone(parseProxyHeader(Buffer.concat([header, PAYLOAD])))
  assert.equal(consumed, header.length)
  assert.deepEqual(h, { version: 1, command: 'PROXY', family: 'TCP4', sourceAddress: '192.0.2.10', sourcePort: 51234, destinationAddress: '127.0.0.1', destinationPort: 8080 })
})

test('R32 PROXY v1 TCP6: addresses are canonicalized so one client is one key', () => {
  const header = v1('TCP6', '2001:DB8:0:0:0:0:0:1', '::1', '0', '65535')
  const { header: h, consumed } = expectDone(parseProxyHeader(header))
  assert.equal(consumed, header.length)
  assert.deepEqual(h, { version: 1, command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::1', sourcePort: 0, destinationAddress: '::1', destinationPort: 65535 })
})

test('R32 PROXY v1 UNKNOWN, bare or with ignored trailing fields', () => {
  for (const header of [v1('UNKNOWN'), Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')]) {
    const { header: h, consumed } = expectDone(parseProxyHeader(Buffer.concat([header, PAYLOAD])))
    assert.equal(consumed, header.length)
    assert.deepEqual(h, { version: 1, command: 'PROXY', family: 'UNKNOWN', sourceAddress: null, sourcePort: null, destinationAddress: null, destinationPort: null })
  }
})

test('R32 PROXY v1 of exactly 107 bytes is accepted, 108 is rejected as too long', () => {
  const exact = Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(PROXY_V1_MAX - 16) + '\r\n')
  assert.equal(exact.length, PROXY_V1_MAX)
  assert.equal(expectDone(parseProxyHeader(exact)).consumed, PROXY_V1_MAX)
  const long = Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(PROXY_V1_MAX - 15) + '\r\n')
  expectInvalid(parseProxyHeader(long), /longer than 107/)
  // Without any CRLF the parser gives up as soon as 107 bytes cannot hold one.
  expectInvalid(parseProxyHeader(Buffer.from('PROXY TCP4 ' + '1'.repeat(200))), /longer than 107/)
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 ' + '1'.repeat(50))), { status: 'incomplete' })
})

test('R32 PROXY v1 malformed lines are invalid with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['PROXY TCP4 256.0.0.1 127.0.0.1 1 2\r\n', /source "256.0.0.1" is not an IPv4/],
    ['PROXY TCP4 192.0.2.1 ::1 1 2\r\n', /destination "::1" is not an IPv4/],
    ['PROXY TCP6 192.0.2.1 ::1 1 2\r\n', /source "192.0.2.1" is not an IPv6/],
    ['PROXY TCP4 01.2.3.4 127.0.0.1 1 2\r\n', /not an IPv4/],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /source "fe80::1%eth0" is not an IPv6/],
    ['PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n', /expected "PROXY TCP4 SRC DST SPORT DPORT"/],
    ['PROXY TCP4 192.0.2.1 127.0.0.1 1 2 3\r\n', /expected/],
    ['PROXY  TCP4 192.0.2.1 127.0.0.1 1 2\r\n', /unknown protocol ""/],
    ['PROXY tcp4 192.0.2.1 127.0.0.1 1 2\r\n', /unknown protocol "tcp4"/],
    ['PROXY UDP4 192.0.2.1 127.0.0.1 1 2\r\n', /unknown protocol "UDP4"/],
    ['PROXY TCP4 192.0.2.1 127.0.0.1 1 2\rX', /CR not followed by LF/],
    ['PROXY TCP4 192.0.2.1\t127.0.0.1 1 2\r\n', /unexpected byte 0x09/]
  ]
  for (const [text, reason] of cases) expectInvalid(parseProxyHeader(Buffer.from(text, 'latin1')), reason)
})

test('R32 PROXY v1 ports out of range or not canonical decimal are invalid', () => {
  for (const [sport, dport, reason] of [
    ['65536', '80', /source port "65536"/],
    ['80', '99999', /destination port "99999"/],
    ['-1', '80', /source port "-1"/],
    ['080', '80', /source port "080"/],
    ['80', '', /destination port ""/],
    ['8o', '80', /source port "8o"/]
  ] as Array<[string, string, RegExp]>) {
    expectInvalid(parseProxyHeader(v1('TCP4', '192.0.2.1', '127.0.0.1', sport, dport)), reason)
  }
})

test('R32 PROXY v2 PROXY TCP4 with TLVs: TLVs skipped, consumed = 16 + length', () => {
  const tlvs = [tlv(0x01, Buffer.from('h2')), tlv(0x05, Buffer.from('unique-id-123')), tlv(0x04, Buffer.alloc(0))]
  const header = v2Tcp4('203.0.113.7', '127.0.0.1', 40000, 443, tlvs)
  assert.equal(header.length, 16 + 12 + tlvs.reduce((n, b) => n + b.length, 0))
  const { header: h, consumed } = expectDone(parseProxyHeader(Buffer.concat([header, PAYLOAD])))
  assert.equal(consumed, header.length)
  assert.deepEqual(h, { version: 2, command: 'PROXY', family: 'TCP4', sourceAddress: '203.0.113.7', sourcePort: 40000, destinationAddress: '127.0.0.1', destinationPort: 443 })
})

test('R32 PROXY v2 PROXY TCP6 with a TLV; IPv4-mapped sources keep the ::ffff: form', () => {
  const header = v2Tcp6('2001:db8:0:0:0:0:0:42', '::1', 1, 65535, [tlv(0x02, Buffer.from('example.org'))])
  const { header: h, consumed } = expectDone(parseProxyHeader(header))
  assert.equal(consumed, header.length)
  assert.deepEqual(h, { version: 2, command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::42', sourcePort: 1, destinationAddress: '::1', destinationPort: 65535 })
  const mapped = expectDone(parseProxyHeader(v2Tcp6('::ffff:c000:0201', '::1', 5, 6)))
  assert.equal(mapped.header.sourceAddress, '::ffff:192.0.2.1')
})

test('R32 PROXY v2 LOCAL (balancer health check) and PROXY UNSPEC carry no address', () => {
  const local = v2({ command: 0, familyByte: 0x00 })
  assert.deepEqual(parseProxyHeader(Buffer.concat([local, PAYLOAD])), {
    status: 'done',
    consumed: 16,
    header: { version: 2, command: 'LOCAL', family: 'UNKNOWN', sourceAddress: null, sourcePort: null, destinationAddress: null, destinationPort: null }
  })
  // LOCAL ignores whatever address block it has.
  const localWithBlock = v2({ command: 0, familyByte: 0x11, addresses: Buffer.alloc(12, 7) })
  assert.equal(expectDone(parseProxyHeader(localWithBlock)).consumed, 28)
  const unspec = v2({ command: 1, familyByte: 0x00, tlvs: [tlv(0xe0, Buffer.from('x'))] })
  const done = expectDone(parseProxyHeader(unspec))
  assert.equal(done.consumed, unspec.length)
  assert.equal(done.header.family, 'UNKNOWN')
  assert.equal(done.header.command, 'PROXY')
})

test('R32 PROXY v2 bad signature, version, command, family or length is invalid', () => {
  const good = v2Tcp4('192.0.2.1', '127.0.0.1', 1, 2)
  const badSignature = Buffer.from(good)
  badSignature[7] = 0x52
  expectInvalid(parseProxyHeader(badSignature), /no PROXY protocol header/)
  expectInvalid(parseProxyHeader(v2({ version: 1, command: 1, familyByte: 0x11, addresses: Buffer.alloc(12) })), /version 1/)
  expectInvalid(parseProxyHeader(v2({ command: 2, familyByte: 0x11, addresses: Buffer.alloc(12) })), /command 2/)
  expectInvalid(parseProxyHeader(v2({ command: 1, familyByte: 0x41, addresses: Buffer.alloc(12) })), /0x41 is not defined/)
  expectInvalid(parseProxyHeader(v2({ command: 1, familyByte: 0x13, addresses: Buffer.alloc(12) })), /0x13 is not defined/)
  expectInvalid(parseProxyHeader(v2({ command: 1, familyByte: 0x11, addresses: Buffer.alloc(8) })), /TCP4 needs 12/)
  expectInvalid(parseProxyHeader(v2({ command: 1, familyByte: 0x21, addresses: Buffer.alloc(20) })), /TCP6 needs 36/)
})

test('R32 garbage and plain HTTP are invalid at once; prefixes of a header are incomplete', () => {
  expectInvalid(parseProxyHeader(PAYLOAD), /no PROXY protocol header/)
  expectInvalid(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), /no PROXY protocol header/)
  expectInvalid(parseProxyHeader(Buffer.from('PROXX')), /no PROXY protocol header/)
  expectInvalid(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x00])), /no PROXY protocol header/)
  for (const prefix of ['', 'P', 'PROX', 'PROXY', 'PROXY ', 'PROXY TCP4 1']) {
    assert.deepEqual(parseProxyHeader(Buffer.from(prefix)), { status: 'incomplete' }, JSON.stringify(prefix))
  }
})

test('R32 headers split at every byte boundary: incomplete until whole, then the same result', () => {
  const headers = [
    v1('TCP4', '192.0.2.10', '127.0.0.1', '51234', '8080'),
    v1('TCP6', 'fe80::1', '::1', '1', '2'),
    v2Tcp4('198.51.100.3', '127.0.0.1', 1000, 2000, [tlv(0x03, Buffer.alloc(4, 1))]),
    v2Tcp6('2001:db8::5', '::1', 3000, 4000, [tlv(0x20, Buffer.alloc(300, 2))]),
    v2({ command: 0, familyByte: 0x00 })
  ]
  for (const header of headers) {
    const whole = Buffer.concat([header, PAYLOAD])
    const expected = expectDone(parseProxyHeader(whole))
    for (let n = 0; n < header.length; n++) {
      assert.deepEqual(parseProxyHeader(whole.subarray(0, n)), { status: 'incomplete' }, `prefix of ${n} bytes`)
    }
    for (let n = header.length; n <= whole.length; n++) {
      assert.deepEqual(parseProxyHeader(whole.subarray(0, n)), expected, `prefix of ${n} bytes`)
    }
    assert.deepEqual(whole.subarray(expected.consumed), PAYLOAD)
  }
})

test('R32 header read incrementally from a real TCP connection leaves the client bytes intact', async (t) => {
  const baseline = openFdCount()
  const header = v2Tcp6('2001:db8::77', '::1', 5555, 443, [tlv(0x01, Buffer.from('http/1.1'))])
  const server = createServer()
  const received = new Promise<{ header: ProxyHeader, rest: Buffer }>((resolve, reject) => {
    server.on('connection', (socket) => {
      let buffered = Buffer.alloc(0)
      let parsed: ProxyHeader | null = null
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        if (parsed !== null) return
        const result = parseProxyHeader(buffered)
        if (result.status === 'invalid') reject(new Error(result.reason))
        if (result.status === 'done') {
          parsed = result.header
          buffered = buffered.subarray(result.consumed)
        }
      })
      socket.on('end', () => {
        socket.end()
        if (parsed === null) reject(new Error('connection ended before a header'))
        else resolve({ header: parsed, rest: buffered })
      })
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => {
    await new Promise(resolve => server.close(resolve))
    await assertNoFdLeak(baseline)
  })
  const client = createConnection((server.address() as AddressInfo).port, '127.0.0.1')
  client.setNoDelay(true)
  await once(client, 'connect')
  const wire = Buffer.concat([header, PAYLOAD])
  // Cuts inside the signature, the fixed part, the addresses and the TLV, and one past the header.
  const cuts = [0, 1, 5, 12, 13, 16, 20, header.length - 1, header.length + 3, wire.length]
  for (let i = 0; i < cuts.length - 2; i++) {
    client.write(wire.subarray(cuts[i], cuts[i + 1]))
    await tick()
  }
  client.end(wire.subarray(cuts[cuts.length - 2]))
  const result = await received
  client.destroy()
  assert.equal(result.header.sourceAddress, '2001:db8::77')
  assert.equal(result.header.sourcePort, 5555)
  assert.deepEqual(result.rest, PAYLOAD)
})

test('R59 PROXY v2 UDP, AF_UNIX and UNSPEC blocks are accepted without an address, so the real peer is used', () => {
  const cases: Array<[number, number]> = [[0x12, 12], [0x22, 36], [0x31, 216], [0x32, 216], [0x01, 0], [0x10, 12], [0x20, 36], [0x30, 216]]
  for (const [familyByte, size] of cases) {
    const header = v2({ command: 1, familyByte, addresses: Buffer.alloc(size, 9), tlvs: [tlv(0x04, Buffer.from('ok'))] })
    const done = expectDone(parseProxyHeader(Buffer.concat([header, PAYLOAD])))
    assert.equal(done.consumed, header.length, `0x${familyByte.toString(16)}`)
    assert.deepEqual(done.header, { version: 2, command: 'PROXY', family: 'UNKNOWN', sourceAddress: null, sourcePort: null, destinationAddress: null, destinationPort: null })
  }
})

test('R60 PROXY v2 declaring more than 4096 address bytes is refused from its 16-byte fixed part', () => {
  const fixed = Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0, 0])])
  fixed.writeUInt16BE(PROXY_V2_MAX_LENGTH + 1, 14)
  expectInvalid(parseProxyHeader(fixed), /at most 4096/)
  fixed.writeUInt16BE(PROXY_V2_MAX_LENGTH, 14)
  assert.deepEqual(parseProxyHeader(fixed), { status: 'incomplete' })
  const largest = v2Tcp4('192.0.2.1', '127.0.0.1', 1, 2, [tlv(0xe0, Buffer.alloc(PROXY_V2_MAX_LENGTH - 12 - 3))])
  assert.equal(expectDone(parseProxyHeader(largest)).consumed, 16 + PROXY_V2_MAX_LENGTH)
})

/** Sends `wire` to a pauseOnConnect server in pieces cut at `cuts`, and returns what readProxyHeader reported. */
async function readOverTcp (wire: Buffer, cuts: number[]): Promise<{ read: ProxyRead | null, refusal: ProxyRefusal | null }> {
  const server = createServer({ pauseOnConnect: true })
  const outcome = new Promise<{ read: ProxyRead | null, refusal: ProxyRefusal | null }>((resolve) => {
    server.once('connection', (socket) => {
      readProxyHeader(socket, 2000, (read) => {
        socket.destroy()
        resolve({ read, refusal: null })
      }, (refusal) => resolve({ read: null, refusal }))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = createConnection((server.address() as AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  client.setNoDelay(true)
  await once(client, 'connect')
  const clientClosed = once(client, 'close')
  const bounds = [0, ...cuts, wire.length]
  for (let i = 0; i < bounds.length - 1 && !client.destroyed; i++) {
    client.write(wire.subarray(bounds[i], bounds[i + 1]))
    // A pause per piece, so each arrives as its own chunk.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const result = await outcome
  client.destroy()
  await clientClosed
  await new Promise((resolve) => server.close(resolve))
  return result
}

test('R60 the reader puts a header split into many pieces back together once and leaves every later byte to the client', async () => {
  const baseline = openFdCount()
  const v2Header = v2Tcp6('2001:db8::78', '::1', 5556, 443, [tlv(0x01, Buffer.from('http/1.1')), tlv(0xe0, Buffer.alloc(600, 3))])
  const v1Header = v1('TCP4', '192.0.2.10', '127.0.0.1', '51234', '8080')
  for (const header of [v2Header, v1Header]) {
    const wire = Buffer.concat([header, PAYLOAD])
    // Cuts inside the signature, the fixed part, the addresses, the TLVs, and a piece that carries the header's end and client bytes.
    const cuts = [1, 7, 14, 16, 30, header.length - 5, header.length + 4]
    const { read, refusal } = await readOverTcp(wire, cuts)
    assert.equal(refusal, null)
    assert.ok(read !== null)
    assert.equal(read.header.sourcePort, header === v2Header ? 5556 : 51234)
    // The bytes after the header that arrived in the same pieces; the rest stayed in the kernel.
    assert.deepEqual(read.rest, PAYLOAD.subarray(0, 4))
  }
  await assertNoFdLeak(baseline)
})

test('R60 the reader refuses an oversized v2 header after 16 bytes, without waiting for the rest', async () => {
  const baseline = openFdCount()
  const fixed = Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0, 0])])
  fixed.writeUInt16BE(60_000, 14)
  const started = Date.now()
  const { read, refusal } = await readOverTcp(fixed, [])
  assert.equal(read, null)
  assert.equal(refusal, 'invalid')
  assert.ok(Date.now() - started < 1500, 'refused before the 2 s header timeout')
  const silent = await readOverTcp(Buffer.from('PROXY TCP4 '), [])
  assert.equal(silent.refusal, 'timeout')
  await assertNoFdLeak(baseline)
})
