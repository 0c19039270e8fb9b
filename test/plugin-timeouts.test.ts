import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { wsProxyClientErrorHandler } from '../plugin/index.js'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  closeWs, echo, openWs, rawConnect, startProxy, statusOf, tunnelLogs, upgradeHead, upgradeStatus, waitFor
} from './helpers/plugin-harness.js'
import { clientFrameHeader, RawClient, requestHead, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { startNeverAcceptingUpstream, startSilentUpstream } from './helpers/stand-in-upstreams.js'

// Timing bounds here are upper limits only, kept generous for a loaded 2-core
// CI box; nothing asserts that something was fast beyond what R18 requires.
const SLACK_MS = 1000

test('R16 connectTimeout: an upstream that never completes the TCP connect gets 504; with another server left, that one serves', async () => {
  const baseline = openFdCount()
  const hanging = await startNeverAcceptingUpstream()
  const live = await startEchoBackend({ name: 'live' })
  const proxy = await startProxy({
    upstreams: { alone: { servers: [hanging.url] }, pair: { servers: [hanging.url, live.url] } },
    routes: [
      { path: '/alone', upstream: 'alone', connectTimeout: '300ms' },
      { path: '/pair', upstream: 'pair', connectTimeout: 300 }
    ]
  })
  try {
    assert.equal(await upgradeStatus(`${proxy.wsBase}/alone`), 504)
    const failure = proxy.logs.find(line => line.msg === 'upstream attempt failed')
    assert.equal((failure?.err as { code?: string } | undefined)?.code, 'WS_CLUSTER_UPSTREAM_CONNECT_TIMEOUT')

    // Round-robin tries the hanging server first; the retry reaches the live one.
    const ws = await openWs(`${proxy.wsBase}/pair`)
    assert.equal(await echo(ws, 'after retry'), 'after retry')
    assert.equal(live.upgrades.length, 1)
    // R22: the connect timeout counted as a failure of the hanging server.
    assert.equal(proxy.app.wsProxy.stats().upstreams.pair.servers[0].failures, 1)
    await closeWs(ws)
  } finally {
    await proxy.close()
    await live.close()
    await hanging.close()
  }
  await assertNoFdLeak(baseline)
})

test('R17 R22 handshakeTimeout: an upstream that accepts but never answers the upgrade gets 504; a second server is tried, the first counted failed', async () => {
  const baseline = openFdCount()
  const silent = await startSilentUpstream()
  const live = await startEchoBackend({ name: 'live' })
  const proxy = await startProxy({
    upstreams: { alone: { servers: [silent.url] }, pair: { servers: [silent.url, live.url] } },
    routes: [
      { path: '/alone', upstream: 'alone', handshakeTimeout: '300ms' },
      { path: '/pair', upstream: 'pair', handshakeTimeout: '300ms' }
    ]
  })
  try {
    assert.equal(await upgradeStatus(`${proxy.wsBase}/alone`), 504)
    assert.equal(silent.accepted(), 1)
    const failure = proxy.logs.find(line => line.msg === 'upstream attempt failed')
    assert.equal((failure?.err as { code?: string } | undefined)?.code, 'WS_CLUSTER_UPSTREAM_HANDSHAKE_TIMEOUT')

    const ws = await openWs(`${proxy.wsBase}/pair`)
    assert.equal(await echo(ws, 'second server'), 'second server')
    assert.equal(silent.accepted(), 2)
    // R22: a handshake timeout counts as a failure, so the silent server is now skipped.
    const [silentStats] = proxy.app.wsProxy.stats().upstreams.pair.servers
    assert.deepEqual([silentStats.failures, silentStats.state], [1, 'failed'])
    const again = await openWs(`${proxy.wsBase}/pair`)
    assert.equal(silent.accepted(), 2, 'not asked again within failTimeout')
    await closeWs(again)
    await closeWs(ws)
  } finally {
    await proxy.close()
    await live.close()
    await silent.close()
  }
  await assertNoFdLeak(baseline)
})

test('R18 an idle tunnel closes within idleTimeout + 300 ms (+ CI slack), both sockets closed, logged as idle-timeout', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const idleTimeout = 500
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b', idleTimeout }] })
  try {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    await waitFor(() => backend.sockets.size === 1, 'backend socket')
    const [backendWs] = backend.sockets
    const backendClosed = once(backendWs, 'close')
    const openedAt = Date.now()
    await once(ws, 'close')
    const elapsed = Date.now() - openedAt
    // R18 says + 300 ms; SLACK_MS more absorbs a loaded CI box.
    assert.ok(elapsed < idleTimeout + 300 + SLACK_MS, `closed after ${elapsed} ms`)
    await backendClosed
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'access log line')
    assert.equal(tunnelLogs(proxy.logs)[0].closedBy, 'idle-timeout')
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R18 traffic in either direction alone resets the idle timer', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  // Sends every idleTimeout/3; the margin absorbs event-loop stalls on a loaded CI box.
  const idleTimeout = 1500
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b', idleTimeout }] })
  try {
    // Two tunnels at once: on one only the client sends (the backend stops
    // echoing), on the other only the backend pushes (the client never sends).
    const up = await openWs(`${proxy.wsBase}/ws`)
    await waitFor(() => backend.sockets.size === 1, 'backend socket')
    const [quietBackend] = backend.sockets
    quietBackend.removeAllListeners('message')
    let received = 0
    quietBackend.on('message', () => { received++ })
    const down = await openWs(`${proxy.wsBase}/ws`)
    await waitFor(() => backend.sockets.size === 2, 'second backend socket')
    const pusher = [...backend.sockets].find(s => s !== quietBackend) as WebSocket
    let pushed = 0
    down.on('message', () => { pushed++ })
    // 8 × idleTimeout/3: well past idleTimeout in total.
    for (let i = 0; i < 8; i++) {
      up.send('tick')
      pusher.send('push')
      await new Promise(resolve => setTimeout(resolve, idleTimeout / 3))
    }
    assert.equal(up.readyState, WebSocket.OPEN, 'client-to-upstream traffic kept the tunnel open')
    assert.equal(down.readyState, WebSocket.OPEN, 'upstream-to-client traffic kept the tunnel open')
    await waitFor(() => received === 8 && pushed === 8, 'all messages through')
    assert.equal(tunnelLogs(proxy.logs).length, 0)
    // Once both stop, each tunnel goes idle and closes.
    await Promise.all([once(up, 'close'), once(down, 'close')])
    await waitFor(() => tunnelLogs(proxy.logs).length === 2, 'two access log lines')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['idle-timeout', 'idle-timeout'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R19 sendTimeout: a client that stops reading while the upstream floods gets its tunnel closed as send-timeout', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'b', sendTimeout: '500ms', idleTimeout: '30s' }]
  })
  const payload = Buffer.alloc(64 * 1024, 7)
  const flooding = new Set<NodeJS.Timeout>()
  try {
    const client = await rawConnect(proxy.port)
    client.pause()
    client.write(upgradeHead('/ws'))
    await waitFor(() => backend.sockets.size === 1, 'backend socket')
    const [backendWs] = backend.sockets
    let sent = 0
    // Bounded flood: at most 256 MiB, never more than 1 MiB queued in ws.
    const timer = setInterval(() => {
      while (backendWs.readyState === WebSocket.OPEN && backendWs.bufferedAmount < 1024 * 1024 && sent < 256 * 1024 * 1024) {
        backendWs.send(payload)
        sent += payload.length
      }
    }, 5)
    flooding.add(timer)
    await once(backendWs, 'close')
    clearInterval(timer)
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'access log line', 10_000)
    assert.equal(tunnelLogs(proxy.logs)[0].closedBy, 'send-timeout')
    assert.ok(sent < 256 * 1024 * 1024, 'closed before the flood bound was reached')
    // The tunnel line is written only once both sockets closed; reading the
    // rest now shows the client its connection ended too.
    const clientClosed = once(client, 'close')
    client.resume()
    await clientClosed
  } finally {
    for (const timer of flooding) clearInterval(timer)
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R19 R146 sendTimeout per direction: with both directions blocked, the one that drains does not take the other\'s timer away', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    socket.pause()
  })
  const proxy = await startProxy({
    upstreams: { raw: { servers: [upstream.url] } },
    routes: [{ path: '/ws', upstream: 'raw', sendTimeout: '1s', idleTimeout: '60s' }]
  })
  const client = await RawClient.open(proxy.port)
  try {
    client.write(requestHead())
    assert.equal((await client.head()).statusCode, 101)
    const size = 32 * 1024 * 1024
    // 1. The upstream reads nothing: client → upstream blocks first.
    const blockedAt = Date.now()
    client.write(Buffer.concat([clientFrameHeader(2, size), Buffer.alloc(size)]))
    await new Promise(resolve => setTimeout(resolve, 300))
    // 2. The client stops reading too: upstream → client blocks second.
    client.socket.pause()
    upstream.exchanges[0]?.socket.write(Buffer.concat([serverFrameHeader(2, size), Buffer.alloc(size)]))
    await new Promise(resolve => setTimeout(resolve, 300))
    // 3. The client reads again: upstream → client drains; client → upstream is still stuck.
    client.socket.resume()
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'the tunnel closed', 8000)
    const took = Date.now() - blockedAt
    assert.equal(tunnelLogs(proxy.logs)[0].closedBy, 'send-timeout')
    assert.ok(took >= 900, `not before sendTimeout (${took} ms)`)
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R20 headersTimeout: a client trickling its request head is closed; the trickle does not extend the deadline', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] }, {
    fastify: { http: { headersTimeout: 500, requestTimeout: 0, connectionsCheckingInterval: 100 }, clientErrorHandler: wsProxyClientErrorHandler }
  })
  try {
    const client = await rawConnect(proxy.port)
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    const head = upgradeHead('/ws', ['X-Padding: ' + 'p'.repeat(200)])
    let i = 0
    // One byte every 50 ms would take over ten seconds for the whole head.
    const trickle = setInterval(() => {
      if (i < head.length && client.writable) client.write(head[i++])
    }, 50)
    const closed = once(client, 'close')
    const startedAt = Date.now()
    await closed
    clearInterval(trickle)
    assert.ok(i < head.length, 'closed before the head was complete')
    assert.ok(Date.now() - startedAt < 500 + 100 + SLACK_MS * 3, 'closed near headersTimeout, not at the end of the trickle')
    assert.equal(statusOf(Buffer.concat(chunks).toString('latin1')), 408)
    assert.equal(backend.upgrades.length, 0)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
