import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy, type ProxyUnderTest } from './helpers/plugin-harness.js'
import { RawClient } from './helpers/raw-http.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

// Slowloris: clients that open a connection and send their request head a
// byte at a time hold a descriptor each and serve nobody. A thousand of them
// must not stop normal clients from being served, and per-address bounds
// must keep them from taking every slot.

const SLOW = 1000
const TRICKLE_MS = 2500
const NORMAL = 15

async function openSlowClients (port: number, localAddress: string): Promise<RawClient[]> {
  const clients: RawClient[] = []
  for (let i = 0; i < SLOW; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, SLOW - i) }, async () => await RawClient.open(port, { localAddress })))
    for (const client of batch) client.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    clients.push(...batch)
  }
  return clients
}

/** Trickles one byte every 200 ms into every slow client still open, for TRICKLE_MS, while `during` runs. */
async function trickleWhile (clients: RawClient[], during: () => Promise<void>): Promise<void> {
  const drip = setInterval(() => {
    for (const client of clients) if (!client.closed) client.write('a')
  }, 200)
  const minimum = new Promise(resolve => setTimeout(resolve, TRICKLE_MS))
  try {
    await during()
    await minimum
  } finally {
    clearInterval(drip)
  }
}

/** Opens, echoes on and closes NORMAL WebSockets one after another; returns the slowest handshake in ms. */
async function serveNormalClients (proxy: ProxyUnderTest, localAddress: string): Promise<number> {
  let slowest = 0
  for (let i = 0; i < NORMAL; i++) {
    const started = Date.now()
    const ws = await openWs(`${proxy.wsBase}/ws`, [], { localAddress, timeoutMs: 5000 })
    slowest = Math.max(slowest, Date.now() - started)
    assert.equal(await echoOnce(ws, `normal ${i}`), `normal ${i}`)
    await closeWs(ws)
  }
  return slowest
}

test(`R89 ${SLOW} clients trickling their request heads do not stop normal clients from being served`, async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  let slow: RawClient[] = []
  try {
    slow = await openSlowClients(proxy.port, '127.0.0.41')
    await trickleWhile(slow, async () => {
      const slowest = await serveNormalClients(proxy, '127.0.0.42')
      assert.ok(slowest < 2000, `a normal handshake took ${slowest} ms among slow clients`)
    })
    assert.equal(proxy.app.wsProxy.stats().connections.reading, SLOW, 'every slow client still waits for its head')
    assert.equal(backend.upgrades.length, NORMAL, 'no slow client reached the upstream')
  } finally {
    for (const client of slow) await client.destroy()
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline, 10_000)
})

test(`R89 with maxConnectionsPerIp, ${SLOW} slow clients from one address hold only that many descriptors; another address is served`, async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], limits: { maxConnectionsPerIp: 50 } })
  let slow: RawClient[] = []
  try {
    slow = await openSlowClients(proxy.port, '127.0.0.43')
    await trickleWhile(slow, async () => {
      await serveNormalClients(proxy, '127.0.0.44')
    })
    const { reading, dropped } = proxy.app.wsProxy.stats().connections
    assert.equal(reading, 50)
    assert.equal(dropped, SLOW - 50, 'the rest were closed at accept')
    assert.equal(slow.filter(client => !client.closed).length, 50)
  } finally {
    for (const client of slow) await client.destroy()
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline, 10_000)
})
