import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket } from 'ws'
import { wsProxyClientErrorHandler } from '../plugin/index.js'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  closeWs, echo, openWs, rawConnect, startProxy, statusOf, tunnelLogs, upgradeHead, upgradeStatus, waitFor
} from './helpers/plugin-harness.js'
import { clientFrameHeader, RawClient, requestHead, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { startNeverAcceptingUpstream, startSilentUpstream } from './helpers/stand-in-upstreams.js'
import { assertTimer, onceWithin, TIMER_SLACK_MS } from './helpers/timing.js'

// Every timer here is checked both ways (helpers/timing.ts): not before its
// setting, and not later than the setting plus what the line allows plus a
// slack for a loaded 2-core CI box. The settings are larger than the slack,
// so a timer running at half or twice its setting fails.
const SLACK_MS = TIMER_SLACK_MS

test('R16 connectTimeout: an upstream that never completes the TCP connect gets 504 after connectTimeout (not sooner); with another server left, that one serves', async () => {
  const baseline = openFdCount()
  const hanging = await startNeverAcceptingUpstream()
  const live = await startEchoBackend({ name: 'live' })
  const proxy = await startProxy({
    upstreams: { alone: { servers: [hanging.url] }, pair: { servers: [hanging.url, live.url] } },
    routes: [
      { path: '/alone', upstream: 'alone', connectTimeout: '1200ms' },
      { path: '/pair', upstream: 'pair', connectTimeout: 300 }
    ]
  })
  try {
    const asked = Date.now()
    assert.equal(await upgradeStatus(`${proxy.wsBase}/alone`), 504)
    // Armed when the proxy began to connect: after the request was sent (both bounds count from there).
    assertTimer(Date.now(), { armedAfter: asked, armedBefore: asked }, 1200, 0, 'connectTimeout')
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

test('R17 R22 handshakeTimeout: an upstream that accepts but never answers the upgrade gets 504 after handshakeTimeout (not sooner); a second server is tried, the first counted failed', async () => {
  const baseline = openFdCount()
  const silent = await startSilentUpstream()
  const live = await startEchoBackend({ name: 'live' })
  const proxy = await startProxy({
    upstreams: { alone: { servers: [silent.url] }, pair: { servers: [silent.url, live.url] } },
    routes: [
      { path: '/alone', upstream: 'alone', handshakeTimeout: '1200ms' },
      { path: '/pair', upstream: 'pair', handshakeTimeout: '300ms' }
    ]
  })
  try {
    const asked = Date.now()
    assert.equal(await upgradeStatus(`${proxy.wsBase}/alone`), 504)
    // Armed once the upstream accepted, which is after the request was sent; a connect on loopback takes no time against the slack.
    assertTimer(Date.now(), { armedAfter: asked, armedBefore: asked }, 1200, 0, 'handshakeTimeout')
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

test('R18 an idle tunnel closes no sooner than idleTimeout and within idleTimeout + 300 ms (+ CI slack), both sockets closed, logged as idle-timeout', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  // Above the slack, so a timer at half (1 s) or twice (4 s) this fails one bound.
  const idleTimeout = 2000
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b', idleTimeout }] })
  try {
    // The proxy's idle timer starts after the 101 went out, so after this; the upper bound stays honest too.
    const startedAt = Date.now()
    const ws = await openWs(`${proxy.wsBase}/ws`)
    const openedAt = Date.now()
    await waitFor(() => backend.sockets.size === 1, 'backend socket')
    const [backendWs] = backend.sockets
    const backendClosed = onceWithin(backendWs, 'close', idleTimeout + 300 + SLACK_MS * 2)
    await onceWithin(ws, 'close', idleTimeout + 300 + SLACK_MS * 2)
    const closedAt = Date.now()
    // Armed when the 101 went out: after the upgrade began, before the client saw it. R18 allows + 300 ms.
    assertTimer(closedAt, { armedAfter: startedAt, armedBefore: openedAt }, idleTimeout, 300, 'idle close')
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
    await Promise.all([onceWithin(up, 'close', idleTimeout + SLACK_MS * 2), onceWithin(down, 'close', idleTimeout + SLACK_MS * 2)])
    await waitFor(() => tunnelLogs(proxy.logs).length === 2, 'two access log lines')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['idle-timeout', 'idle-timeout'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R19 sendTimeout: a client that stops reading while the upstream floods gets its tunnel closed as send-timeout, no sooner than sendTimeout after the flood began', async () => {
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
    const floodStarted = Date.now()
    // Bounded flood: at most 256 MiB, never more than 1 MiB queued in ws.
    const timer = setInterval(() => {
      while (backendWs.readyState === WebSocket.OPEN && backendWs.bufferedAmount < 1024 * 1024 && sent < 256 * 1024 * 1024) {
        backendWs.send(payload)
        sent += payload.length
      }
    }, 5)
    flooding.add(timer)
    await onceWithin(backendWs, 'close', 10_000)
    // Armed when a write first stalled: after the flood began, and (filling the socket buffers takes well under a second) soon after.
    assertTimer(Date.now(), { armedAfter: floodStarted, armedBefore: floodStarted }, 500, 1000, 'sendTimeout')
    clearInterval(timer)
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'access log line', 10_000)
    assert.equal(tunnelLogs(proxy.logs)[0].closedBy, 'send-timeout')
    assert.ok(sent < 256 * 1024 * 1024, 'closed before the flood bound was reached')
    // The tunnel line is written only once both sockets closed; reading the
    // rest now shows the client its connection ended too.
    const clientClosed = onceWithin(client, 'close', 5000)
    client.resume()
    await clientClosed
  } finally {
    for (const timer of flooding) clearInterval(timer)
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R19 R103 sendTimeout per direction: with both directions blocked, the one that drains does not take the other\'s timer away', async () => {
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
    const connecting = Date.now()
    const client = await rawConnect(proxy.port)
    const connected = Date.now()
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    const head = upgradeHead('/ws', ['X-Padding: ' + 'p'.repeat(200)])
    let i = 0
    // One byte every 50 ms would take over ten seconds for the whole head.
    const trickle = setInterval(() => {
      if (i < head.length && client.writable) client.write(head[i++])
    }, 50)
    await onceWithin(client, 'close', 500 + 100 + SLACK_MS * 3)
    clearInterval(trickle)
    assert.ok(i < head.length, 'closed before the head was complete')
    // Counted from the connection; Node checks every connectionsCheckingInterval (100 ms).
    assertTimer(Date.now(), { armedAfter: connecting, armedBefore: connected }, 500, 100, 'headersTimeout')
    assert.equal(statusOf(Buffer.concat(chunks).toString('latin1')), 408)
    assert.equal(backend.upgrades.length, 0)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
