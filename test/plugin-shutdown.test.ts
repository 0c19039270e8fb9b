import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  openWs, rawConnect, refusal, startProxy, statusOf, tunnelLogs, upgradeHead, waitFor
} from './helpers/plugin-harness.js'
import { RawClient, requestHead, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { startSilentUpstream } from './helpers/stand-in-upstreams.js'
import { assertTimer, onceWithin } from './helpers/timing.js'

// The drain checks every 50 ms whether tunnels are gone, so a cut may come that much after shutdownTimeout.
const DRAIN_POLL_MS = 50

test('R39 R98 app.close(): new upgrades get 503; every open tunnel gets a 1001 close frame, the closes spread over closeSpread; logged as shutdown', async () => {
  const baseline = openFdCount()
  const backendCodes: number[] = []
  const backend = await startEchoBackend({ onConnection: (ws) => ws.on('close', (code) => backendCodes.push(code)) })
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: '8s', closeSpread: '1200ms' })
  try {
    const clients = await Promise.all([1, 2, 3, 4].map(async () => await openWs(`${proxy.wsBase}/ws`)))
    const closedAt: number[] = []
    const codes = clients.map(async (ws) => {
      const [code] = await once(ws, 'close') as [number]
      closedAt.push(Date.now())
      return code
    })
    const startedAt = Date.now()
    const closing = proxy.close()
    await waitFor(() => proxy.logs.some(line => String(line.msg).startsWith('closing open tunnels')), 'the stop began')
    assert.equal((await refusal(`${proxy.wsBase}/ws`)).status, 503)
    await closing
    assert.deepEqual(await Promise.all(codes), [1001, 1001, 1001, 1001])
    closedAt.sort((a, b) => a - b)
    const first = closedAt[0] - startedAt
    const spread = closedAt[3] - closedAt[0]
    // Due at 0, 400, 800 and 1200 ms: generous bounds around that.
    assert.ok(first < 1000, `the first close comes at once (${first} ms)`)
    assert.ok(spread >= 800 && spread <= 4000, `the closes are spread over closeSpread (${spread} ms from first to last)`)
    await waitFor(() => backendCodes.length === 4, 'the backend sockets closed')
    assert.deepEqual(backendCodes, [1001, 1001, 1001, 1001], 'the backend got the close frames too')
    // The access-log lines are written before close() resolves.
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown', 'shutdown', 'shutdown', 'shutdown'])
    assert.equal(backend.upgrades.length, 4)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 R98 closes are spread over at most half of shutdownTimeout, and app.close() returns once the last tunnel closed', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: '1600ms', closeSpread: '60s' })
  try {
    const clients = await Promise.all([1, 2].map(async () => await openWs(`${proxy.wsBase}/ws`)))
    const codes = clients.map(async (ws) => (await once(ws, 'close') as [number])[0])
    const startedAt = Date.now()
    await proxy.close()
    const took = Date.now() - startedAt
    // The second close is due 800 ms in (half of 1.6 s), not 60 s; its handshake takes a few ms.
    assert.ok(took >= 700 && took < 1600, `close() returned once both closed (${took} ms), before shutdownTimeout`)
    assert.deepEqual(await Promise.all(codes), [1001, 1001])
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown', 'shutdown'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 a tunnel whose peers never answer the close frame is cut when shutdownTimeout passes', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => { socket.write(switchingHead(headers['sec-websocket-key'])) })
  const proxy = await startProxy({ upstreams: { raw: { servers: [upstream.url] } }, routes: [{ path: '/ws', upstream: 'raw' }], shutdownTimeout: '1500ms' })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
    client.write(requestHead())
    assert.equal((await client.head()).statusCode, 101)
    // A frame that never ends: no boundary for the close frame to go in at.
    upstream.exchanges[0]?.socket.write(serverFrameHeader(2, 1_000_000))
    await client.waitForBytes(client.received.indexOf('\r\n\r\n') + 4 + 10)
    const startedAt = Date.now()
    await proxy.close()
    const took = Date.now() - startedAt
    assert.ok(took >= 1400 && took < 5000, `cut at shutdownTimeout (${took} ms)`)
    await waitFor(() => client.ended, 'the client connection ended')
    assert.equal(client.received.includes(Buffer.from([0x88, 0x02, 0x03, 0xe9])), false, 'no close frame inside the unfinished frame')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown'])
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 app.close() with a handshake still waiting for its upstream: 503 once shutdownTimeout is over, not after handshakeTimeout', async () => {
  const baseline = openFdCount()
  const silent = await startSilentUpstream()
  const proxy = await startProxy({
    upstreams: { g: { servers: [silent.url] } },
    routes: [{ path: '/ws', upstream: 'g', handshakeTimeout: '60s' }],
    shutdownTimeout: 1200
  })
  try {
    const client = await rawConnect(proxy.port)
    const got: Buffer[] = []
    client.on('data', (chunk: Buffer) => got.push(chunk))
    const clientClosed = onceWithin(client, 'close', 15_000)
    client.write(upgradeHead('/ws'))
    await waitFor(() => silent.accepted() === 1, 'upstream asked')
    const startedAt = Date.now()
    await proxy.close()
    // Far below the 60 s handshakeTimeout; the attempt is aborted when the drain ends.
    assertTimer(Date.now(), { armedAfter: startedAt, armedBefore: startedAt }, 1200, DRAIN_POLL_MS, 'the 503 after shutdownTimeout')
    await clientClosed
    assert.equal(statusOf(Buffer.concat(got).toString('latin1')), 503)
  } finally {
    await proxy.close()
    await silent.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 a shutdownTimeout longer than Fastify\'s pluginTimeout is shortened so app.close() resolves instead of timing out', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: '20s' }, {
    fastify: { pluginTimeout: 2500 }
  })
  try {
    const warning = proxy.logs.find(line => String(line.msg).startsWith('shutdownTimeout is longer than'))
    assert.equal(warning?.effective, 1000, 'warned at registration with the time tunnels will get')
    const ws = await openWs(`${proxy.wsBase}/ws`)
    const closed = onceWithin(ws, 'close', 15_000)
    const closeCalled = Date.now()
    // Rejects with AVV_ERR_READY_TIMEOUT if the close hook outlives pluginTimeout.
    await proxy.close()
    await closed
    // The 1001 goes out within the shortened time (1 s), not the 20 s asked for.
    assert.ok(Date.now() - closeCalled < 2500, `closed within the shortened shutdownTimeout (${Date.now() - closeCalled} ms)`)
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
