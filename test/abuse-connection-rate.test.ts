import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { resolveOptions, setClientAddress } from '../plugin/index.js'
import { ipKey } from '../plugin/internal.js'
import { ConnectionRateLimiter } from '../plugin/connection-rate.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, openWs, refusal, startProxy, waitFor } from './helpers/plugin-harness.js'
import { RawClient } from './helpers/raw-http.js'

// A per-client rate of new upgrades (a token bucket, nginx limit_req with
// burst), and IPv6 clients counted per /64 for every per-IP limit: one
// subscriber's /64 holds more addresses than any limit could count.

test('R86 connectionRate: a burst is served, then 429 with Retry-After until a token is back; other clients are unaffected; refusals are counted and logged once', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'b' }],
    limits: { connectionRate: { perSecond: 2, burst: 3 } }
  })
  const from = (localAddress: string): { localAddress: string } => ({ localAddress })
  try {
    for (let i = 0; i < 3; i++) await closeWs(await openWs(`${proxy.wsBase}/ws`, from('127.0.0.11')))
    const limited = await refusal(`${proxy.wsBase}/ws`, from('127.0.0.11'))
    const refusedAt = Date.now()
    assert.equal(limited.status, 429)
    assert.equal((JSON.parse(limited.body) as { code: string }).code, 'WS_CLUSTER_RATE_LIMITED')
    assert.equal(backend.upgrades.length, 3, 'the refused upgrade cost no upstream connection')
    await closeWs(await openWs(`${proxy.wsBase}/ws`, from('127.0.0.12')))
    // Lower bound: no token comes back before 500 ms at 2 per second.
    assert.equal((await refusal(`${proxy.wsBase}/ws`, from('127.0.0.11'))).status, 429)
    assert.ok(Date.now() - refusedAt < 450, 'the second refusal came within the same half second')
    await new Promise(resolve => setTimeout(resolve, 600))
    await closeWs(await openWs(`${proxy.wsBase}/ws`, from('127.0.0.11')))
    const stats = proxy.app.wsProxy.stats().connections
    assert.equal(stats.rateLimited, 2)
    assert.equal(stats.rateTracked, 2)
    const warnings = proxy.logs.filter(line => line.msg === 'upgrade refused: connection rate limit')
    assert.equal(warnings.length, 1, 'R88: one warning for repeated refusals')
    // Buckets that filled up again are forgotten: memory follows active clients only (refill 1.5 s, sweep every 1.5 s).
    await waitFor(() => proxy.app.wsProxy.stats().connections.rateTracked === 0, 'idle buckets evicted', 5000)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R86 the Retry-After header says when a token is back; a rate of 0.5 per second asks for 2 s', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], limits: { connectionRate: { perSecond: 0.5 } } })
  const client = await RawClient.open(proxy.port)
  try {
    await closeWs(await openWs(`${proxy.wsBase}/ws`))
    client.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    const head = await client.head()
    assert.equal(head.statusCode, 429)
    assert.deepEqual(head.headers.filter(([name]) => name.toLowerCase() === 'retry-after').map(([, value]) => value), ['2'])
  } finally {
    await client.destroy()
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R86 the rate limiter forgets the least recently used client past its bound, and drops buckets once they are full again', () => {
  // Any epoch but 0 (lru-cache reads a start time of 0 as "no TTL"); Date.now() is never 0.
  let now = 10_000
  const rate = new ConnectionRateLimiter({ perSecond: 1, burst: 2 }, { maxTracked: 3, clock: () => now })
  for (const key of ['a', 'b', 'c']) assert.equal(rate.take(key), 0)
  assert.equal(rate.take('a'), 0)
  assert.equal(rate.take('a'), 1000, 'a is empty: 1 s until its next token')
  assert.equal(rate.take('d'), 0)
  assert.equal(rate.tracked, 3, 'bounded: b, the least recently used, was forgotten')
  assert.equal(rate.take('b'), 0, 'a forgotten client starts with a full bucket')
  now = 11_500
  assert.equal(rate.take('a'), 0, '1.5 tokens back after 1.5 s')
  now = 12_500
  rate.sweep()
  assert.equal(rate.tracked, 1, 'untouched for the 2 s a bucket takes to fill: dropped; a, used at 1.5 s, kept')
  now = 14_000
  rate.sweep()
  assert.equal(rate.tracked, 0)
})

test('R87 ipKey: IPv6 addresses grouped by prefix, IPv4 and mapped addresses never grouped', () => {
  assert.equal(ipKey('2001:db8:1:2:aaaa::7', 64), '2001:db8:1:2::/64')
  assert.equal(ipKey('2001:db8:1:2:aaaa::7', 48), '2001:db8:1::/48')
  assert.equal(ipKey('2001:db8:1:2:aaaa::7', 128), '2001:db8:1:2:aaaa::7')
  assert.equal(ipKey('fe80::1%eth0', 64), 'fe80::/64')
  assert.equal(ipKey('203.0.113.7', 64), '203.0.113.7')
  assert.equal(ipKey('::ffff:203.0.113.7', 64), '203.0.113.7')
  assert.equal(ipKey('', 64), '')
  assert.throws(() => resolveOptions({ upstreams: { a: { servers: ['http://127.0.0.1:1'] } }, routes: [{ path: '/ws', upstream: 'a' }], limits: { ipv6Prefix: 8 } }),
    /limits\.ipv6Prefix: got 8; allowed: an integer from 16 to 128/)
  assert.throws(() => resolveOptions({ upstreams: { a: { servers: ['http://127.0.0.1:1'] } }, routes: [{ path: '/ws', upstream: 'a' }], limits: { connectionRate: { perSecond: 0 } } }),
    /limits\.connectionRate\.perSecond: got 0; allowed: a number of upgrades per second/)
})

/** Clients from these loopback addresses are recorded as these IPv6 clients, as the cluster records a PROXY protocol source. */
const AS_IPV6: Record<string, string> = {
  '127.0.0.21': '2001:db8:1:2::a',
  '127.0.0.22': '2001:db8:1:2:ffff::b',
  '127.0.0.23': '2001:db8:1:3::a'
}

function recordIpv6 (app: FastifyInstance): void {
  app.server.prependListener('connection', (socket: Socket) => {
    const mapped = AS_IPV6[(socket.remoteAddress ?? '').replace('::ffff:', '')]
    if (mapped !== undefined) setClientAddress(socket, mapped)
  })
}

test('R87 with ipv6Prefix 64, maxConnectionsPerIp, silent connections and the connection rate count one /64 as one client; another /64 is served', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'b' }],
    limits: { maxConnectionsPerIp: 1, ipv6Prefix: 64, connectionRate: { perSecond: 0.2, burst: 2 } }
  }, { before: recordIpv6 })
  const silent: RawClient[] = []
  try {
    const held = await openWs(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.21' })
    const sameNetwork = await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.22' })
    assert.equal(sameNetwork.status, 503, 'another address of the same /64 is the same client')
    assert.ok(proxy.logs.some(line => String(line.reason).includes('2001:db8:1:2::/64')))
    const other = await openWs(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.23' })
    await closeWs(other)
    await closeWs(held)
    // Two tokens for the /64, both spent: the next upgrade from either address is rate limited.
    assert.equal((await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.22' })).status, 429)
    // Connections that sent nothing yet: one per /64 (maxConnectionsPerIp), the second closed at accept.
    silent.push(await RawClient.open(proxy.port, { localAddress: '127.0.0.21' }))
    await waitFor(() => proxy.app.wsProxy.stats().connections.reading === 1, 'the first silent connection counted')
    const closedAtAccept = await RawClient.open(proxy.port, { localAddress: '127.0.0.22' })
    assert.equal((await closedAtAccept.untilClosed(3000)).length, 0)
    silent.push(await RawClient.open(proxy.port, { localAddress: '127.0.0.23' }))
    await waitFor(() => proxy.app.wsProxy.stats().connections.reading === 2, 'another /64 is admitted')
    assert.equal(proxy.app.wsProxy.stats().connections.dropped, 1)
  } finally {
    for (const client of silent) await client.destroy()
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
