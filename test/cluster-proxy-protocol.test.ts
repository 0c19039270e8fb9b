import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet, type Whoami } from './helpers/cluster-process.js'
import type { StatusReport } from '../cluster/status-report.js'
import { proxyV1, proxyV2 } from './helpers/proxy-header.js'

const fixture = useWhoamiCluster({
  config: () => ({
    listen: { port: 0, host: '127.0.0.1', proxyProtocol: true, trustedProxies: ['127.0.0.1', '127.0.0.2'], maxPendingProxyHeaders: 4 },
    admin: { port: 0, host: '127.0.0.1' }
  })
})

const WHOAMI = Buffer.from('GET /whoami HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n')

/** Writes `chunks` (a pause between them) from `localAddress` and collects everything until the server closes. */
async function exchange (chunks: Buffer[], localAddress = '127.0.0.1', timeoutMs = 10_000): Promise<{ bytes: Buffer, closedAfterMs: number }> {
  const started = Date.now()
  const socket: Socket = connect({ host: '127.0.0.1', port: fixture.cluster.port, localAddress })
  const received: Buffer[] = []
  socket.on('data', (c: Buffer) => received.push(c))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('server did not close the connection')) }, timeoutMs)
    socket.once('close', () => { clearTimeout(timer); resolve() })
  })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    if (!socket.destroyed) socket.write(chunk)
  }
  await closed
  return { bytes: Buffer.concat(received), closedAfterMs: Date.now() - started }
}

async function whoamiVia (header: Buffer | Buffer[], localAddress = '127.0.0.1'): Promise<Whoami> {
  const chunks = Array.isArray(header) ? header : [Buffer.concat([header, WHOAMI])]
  if (Array.isArray(header)) chunks.push(WHOAMI)
  const { bytes } = await exchange(chunks, localAddress)
  const text = bytes.toString('utf8')
  assert.match(text, /^HTTP\/1\.1 200 /)
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Whoami
}

test('R32 PROXY v1 from a trusted peer: the source becomes the client address; bytes after the header arrive intact', async () => {
  const seen = await whoamiVia(proxyV1('203.0.113.5', 51000, '127.0.0.1', 8080))
  assert.equal(seen.client, '203.0.113.5')
})

test('R32 PROXY v1 header split over two writes is still read whole', async () => {
  const header = proxyV1('203.0.113.6', 51000, '127.0.0.1', 8080)
  const seen = await whoamiVia([header.subarray(0, 10), header.subarray(10)])
  assert.equal(seen.client, '203.0.113.6')
})

test('R32 PROXY v2 TCP4 with TLVs and TCP6 from a trusted peer; LOCAL keeps the peer address', async () => {
  const v4 = proxyV2({ source: '198.51.100.7', sourcePort: 40000, destination: '127.0.0.1', destinationPort: 443, tlvs: [{ type: 0x04, value: Buffer.from('pad') }, { type: 0x01, value: Buffer.from('http/1.1') }] })
  assert.equal((await whoamiVia(v4)).client, '198.51.100.7')
  const v6 = proxyV2({ source: '2001:db8::1', sourcePort: 40000, destination: '::1', destinationPort: 443 })
  assert.equal((await whoamiVia(v6)).client, '2001:db8::1')
  const local = proxyV2({ command: 'LOCAL', source: '198.51.100.8', sourcePort: 1, destination: '127.0.0.1', destinationPort: 2 })
  assert.equal((await whoamiVia(local)).client, '127.0.0.1')
})

test('R32 PROXY header from an untrusted peer is parsed and dropped: the peer address is the client', async () => {
  assert.equal((await whoamiVia(proxyV1('203.0.113.9', 1, '127.0.0.1', 2), '127.0.0.9')).client, '127.0.0.9')
  const v2 = proxyV2({ source: '198.51.100.9', sourcePort: 1, destination: '127.0.0.1', destinationPort: 2 })
  assert.equal((await whoamiVia(v2, '127.0.0.9')).client, '127.0.0.9')
})

test('R32 a missing or malformed PROXY header closes the connection with zero bytes sent', async () => {
  assert.equal((await exchange([WHOAMI])).bytes.length, 0, 'plain HTTP without a header')
  assert.equal((await exchange([Buffer.from('PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n'), WHOAMI])).bytes.length, 0)
  assert.equal((await exchange([Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)])).bytes.length, 0, 'v1 longer than 107 bytes')
})

test('R32 a client that sends nothing is closed after the header timeout, with zero bytes sent', async () => {
  const { bytes } = await exchange([], '127.0.0.1', 15_000)
  assert.equal(bytes.length, 0)
})

test('R33 the PROXY source drives stickiness and X-Forwarded-For: one source via two proxies reaches one worker', async () => {
  const viaFirst = await whoamiVia(proxyV1('192.0.2.44', 1, '127.0.0.1', 2), '127.0.0.1')
  const viaSecond = await whoamiVia(proxyV1('192.0.2.44', 3, '127.0.0.1', 2), '127.0.0.2')
  assert.equal(viaFirst.pid, viaSecond.pid)
  const pids = new Set<number>()
  for (let i = 1; i <= 16; i++) pids.add((await whoamiVia(proxyV1(`192.0.2.${i}`, 1, '127.0.0.1', 2))).pid)
  assert.equal(pids.size, 2, 'different sources spread over both workers')

  const ws = new WebSocket(`ws://127.0.0.1:${fixture.cluster.port}/ws`, {
    createConnection: () => {
      const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port })
      socket.write(proxyV2({ source: '192.0.2.99', sourcePort: 5555, destination: '127.0.0.1', destinationPort: 80 }))
      return socket
    }
  } as ClientOptions)
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('echo timed out')), 5000)
      ws.once('open', () => ws.send('through the proxy'))
      ws.once('message', (data) => { clearTimeout(timer); resolve(String(data)) })
      ws.once('error', (err) => { clearTimeout(timer); reject(err) })
    })
    assert.equal(reply, 'through the proxy')
    assert.equal(fixture.backend.upgrades.at(-1)?.headers['x-forwarded-for'], '192.0.2.99')
    assert.equal(fixture.backend.upgrades.at(-1)?.headers['x-real-ip'], '192.0.2.99')
  } finally {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { ws.terminate(); resolve() }, 3000)
      ws.once('close', () => { clearTimeout(timer); resolve() })
      ws.close()
    })
  }
})

/** A v2 PROXY header with any family byte and address block (UDP, AF_UNIX, UNSPEC). */
function v2Raw (familyByte: number, block: Buffer): Buffer {
  const fixed = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, familyByte, 0, 0])
  fixed.writeUInt16BE(block.length, 14)
  return Buffer.concat([fixed, block])
}

test('R59 PROXY v2 from UDP, AF_UNIX and UNSPEC sources is served with the real peer as the client', async () => {
  const udp4 = v2Raw(0x12, Buffer.from([198, 51, 100, 1, 127, 0, 0, 1, 0, 53, 0, 53]))
  const unix = v2Raw(0x31, Buffer.alloc(216, 0x61))
  const unspecUdp = v2Raw(0x02, Buffer.alloc(0))
  for (const header of [udp4, unix, unspecUdp]) {
    assert.equal((await whoamiVia(header, '127.0.0.2')).client, '127.0.0.2', `family 0x${header[13].toString(16)}`)
  }
})

async function primaryStatus (): Promise<StatusReport> {
  const res = await httpGet(fixture.cluster.adminPort as number, '/status')
  assert.equal(res.status, 200)
  return JSON.parse(res.body) as StatusReport
}

test('R60 an oversized v2 header is refused at its fixed part, long before the header timeout, and counted', async () => {
  const fixed = v2Raw(0x11, Buffer.alloc(0))
  fixed.writeUInt16BE(60_000, 14)
  const { bytes, closedAfterMs } = await exchange([fixed], '127.0.0.1', 4000)
  assert.equal(bytes.length, 0)
  assert.ok(closedAfterMs < 2000, `closed after ${closedAfterMs} ms`)
  const status = await primaryStatus()
  assert.ok((status.primary.proxyHeaders?.refused.invalid ?? 0) >= 1)
})

test('R60 connections waiting for their header are capped: past listen.maxPendingProxyHeaders new ones are closed at once, and it is logged', async () => {
  const silent: Socket[] = []
  try {
    for (let i = 0; i < 4; i++) {
      const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port })
      socket.on('error', () => {})
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
      silent.push(socket)
    }
    // The primary accepts asynchronously: wait until it counts all four as pending.
    for (let i = 0; i < 50 && (await primaryStatus()).primary.proxyHeaders?.pending !== 4; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal((await primaryStatus()).primary.proxyHeaders?.pending, 4)
    const over = await exchange([proxyV1('192.0.2.1', 1, '127.0.0.1', 2)], '127.0.0.1', 4000)
    assert.equal(over.bytes.length, 0, 'closed without a byte')
    assert.ok(over.closedAfterMs < 1500, `closed after ${over.closedAfterMs} ms, not after the 5 s header timeout`)
    const line = await fixture.cluster.waitForLog((l) => l.reason === 'too-many-pending')
    assert.equal(line.level, 40)
    const status = await primaryStatus()
    assert.ok((status.primary.proxyHeaders?.refused['too-many-pending'] ?? 0) >= 1)
    const metrics = await httpGet(fixture.cluster.adminPort as number, '/metrics')
    assert.match(metrics.body, /ws_cluster_primary_proxy_headers_refused_total\{reason="too-many-pending"\} [1-9]/)
  } finally {
    for (const socket of silent) socket.destroy()
  }
  // Once they are gone, headers are read again.
  for (let i = 0; i < 50 && (await primaryStatus()).primary.proxyHeaders?.pending !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal((await whoamiVia(proxyV1('192.0.2.5', 1, '127.0.0.1', 2))).client, '192.0.2.5')
})
