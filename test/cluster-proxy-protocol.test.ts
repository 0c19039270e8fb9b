import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { WebSocket, type ClientOptions } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import type { Whoami } from './helpers/cluster-process.js'
import { proxyV1, proxyV2 } from './helpers/proxy-header.js'
import { assertTimer } from './helpers/timing.js'
import { PROXY_HEADER_TIMEOUT_MS } from '../cluster/primary/primary.js'

const fixture = useWhoamiCluster({
  config: () => ({ listen: { port: 0, host: '127.0.0.1', proxyProtocol: true, trustedProxies: ['127.0.0.1', '127.0.0.2'] } })
})

const WHOAMI = Buffer.from('GET /whoami HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n')

/** Writes `chunks` (a pause between them) from `localAddress` and collects everything until the server closes. */
async function exchange (chunks: Buffer[], localAddress = '127.0.0.1', timeoutMs = 10_000): Promise<{ bytes: Buffer, started: number, connected: number, closedAt: number }> {
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
  const connected = Date.now()
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    if (!socket.destroyed) socket.write(chunk)
  }
  await closed
  return { bytes: Buffer.concat(received), started, connected, closedAt: Date.now() }
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

test('R32 a client that sends nothing is closed after the header timeout (not sooner), with zero bytes sent', async () => {
  const { bytes, started, connected, closedAt } = await exchange([], '127.0.0.1', PROXY_HEADER_TIMEOUT_MS + 10_000)
  assert.equal(bytes.length, 0)
  // The primary arms it when it accepts: after the connect began, before the client saw it complete.
  assertTimer(closedAt, { armedAfter: started, armedBefore: connected }, PROXY_HEADER_TIMEOUT_MS, 0, 'PROXY header timeout')
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
