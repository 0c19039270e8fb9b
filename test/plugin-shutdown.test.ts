import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  echo, openWs, rawConnect, refusal, startProxy, statusOf, tunnelLogs, upgradeHead, waitFor
} from './helpers/plugin-harness.js'
import { startSilentUpstream } from './helpers/stand-in-upstreams.js'
import { assertTimer, onceWithin } from './helpers/timing.js'

// The drain checks every 50 ms whether tunnels are gone, so a cut may come that much after shutdownTimeout.
const DRAIN_POLL_MS = 50

test('R39 app.close(): new upgrades get 503 while open tunnels drain; after shutdownTimeout (not sooner) they are cut and logged as shutdown', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const shutdownTimeout = 1200
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout })
  try {
    const first = await openWs(`${proxy.wsBase}/ws`)
    const second = await openWs(`${proxy.wsBase}/ws`)
    const closedBoth = Promise.all([onceWithin(first, 'close', 15_000), onceWithin(second, 'close', 15_000)])
    const closeCalled = Date.now()
    const closing = proxy.close()
    await waitFor(() => proxy.logs.some(line => line.msg === 'waiting for open tunnels to close'), 'drain started')
    const drainStarted = Date.now()
    assert.equal((await refusal(`${proxy.wsBase}/ws`)).status, 503)
    // Open tunnels still carry traffic during the grace period.
    assert.equal(await echo(first, 'still open'), 'still open')
    await closing
    // The access-log lines are written before close() resolves.
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown', 'shutdown'])
    await closedBoth
    assertTimer(Date.now(), { armedAfter: closeCalled, armedBefore: drainStarted }, shutdownTimeout, DRAIN_POLL_MS, 'the cut after shutdownTimeout')
    assert.equal(backend.upgrades.length, 2)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 app.close() returns as soon as the last tunnel ends on its own within shutdownTimeout', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: '20s' })
  try {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    const startedAt = Date.now()
    const closing = proxy.close()
    await waitFor(() => proxy.logs.some(line => line.msg === 'waiting for open tunnels to close'), 'drain started')
    // closedBy reflects which TCP side ended first (the tunnel reads no frames), so the client drops its connection.
    ws.terminate()
    await closing
    // Generous bound: far below the 20 s grace the tunnel was given.
    assert.ok(Date.now() - startedAt < 10_000)
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['client'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R39 app.close() with a handshake still waiting for its upstream: 503 once shutdownTimeout is over (not sooner), not after handshakeTimeout', async () => {
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
    // The tunnel got the shortened time (1 s), not the 20 s asked for, nor less.
    assertTimer(Date.now(), { armedAfter: closeCalled, armedBefore: closeCalled }, 1000, DRAIN_POLL_MS, 'the cut after the shortened shutdownTimeout')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
