import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy } from './helpers/plugin-harness.js'
import { requestHead, RawClient, switchingHead } from './helpers/raw-http.js'
import { closeEvent, relayLogs, withRelay } from './helpers/relay-fixture.js'
import { closeWs, collectMessages, echoOnce, openWs, until, type Message } from './helpers/ws-clients.js'

// Relay lines R76-R77: message size and rate limits close with 1009 and
// 1008 and are counted; proxy-sent heartbeats find a peer that stopped
// answering without waiting for idleTimeout.

test('R76 maxMessageSize: a message over the limit closes both sides with 1009, per direction, and is counted; one at the limit passes', async () => {
  await withRelay({ relay: { maxMessageSize: { fromClient: 1024, fromUpstream: 4096 } } }, async ({ url, upstreamSockets, upstreamReceived, proxy }) => {
    const ws = await openWs(url)
    assert.equal((await echoOnce(ws, 'x'.repeat(1024))).length, 1024)
    const atClient = closeEvent(ws)
    const atUpstream = closeEvent(upstreamSockets[0])
    ws.send('x'.repeat(1025))
    assert.equal((await atClient)[0], 1009)
    assert.deepEqual(await atUpstream, [1009, 'client message too big'])
    assert.deepEqual((upstreamReceived.get(upstreamSockets[0]) as Message[]).map(m => m.data.length), [1024], 'the big message never reached the upstream')

    const second = await openWs(url)
    await until(() => upstreamSockets.length === 2, 'the second upstream socket')
    const atSecondClient = closeEvent(second)
    upstreamSockets[1].send(Buffer.alloc(4096))
    assert.equal((await new Promise<Buffer>(resolve => second.once('message', resolve))).length, 4096)
    upstreamSockets[1].send(Buffer.alloc(4097))
    assert.deepEqual(await atSecondClient, [1009, 'upstream message too big'])
    assert.equal(proxy.app.wsProxy.stats().routes['/ws'].messagesTooBig, 2)
    await until(() => relayLogs(proxy.logs).length === 2, 'two access-log lines')
    assert.deepEqual(relayLogs(proxy.logs).map(line => line.closedBy), ['message-too-big', 'message-too-big'])
  })
})

test('R76 the message rate limit allows a burst and a refilled budget, and closes with 1008 beyond it, counted', async () => {
  await withRelay({ relay: { rateLimit: { messages: 3, per: '300ms' } } }, async ({ url, upstreamSockets, upstreamReceived, proxy }) => {
    const ws = await openWs(url)
    const echoes = collectMessages(ws)
    for (const text of ['a', 'b', 'c']) ws.send(text)
    await until(() => echoes.length === 3, 'the burst echoes')
    await new Promise(resolve => setTimeout(resolve, 400))
    for (const text of ['d', 'e', 'f']) ws.send(text)
    await until(() => echoes.length === 6, 'the echoes of the refilled budget')
    const atClient = closeEvent(ws)
    const atUpstream = closeEvent(upstreamSockets[0])
    for (const text of ['g', 'h', 'i', 'j']) ws.send(text)
    assert.deepEqual(await atClient, [1008, 'message rate limit exceeded'])
    assert.deepEqual(await atUpstream, [1008, 'message rate limit exceeded'])
    assert.deepEqual((upstreamReceived.get(upstreamSockets[0]) as Message[]).map(m => String(m.data)), ['a', 'b', 'c', 'd', 'e', 'f'], 'the budget was spent: "g" was one too many')
    const figures = proxy.app.wsProxy.stats().routes['/ws']
    assert.equal(figures.rateLimited, 1)
    // "g" was the one too many; what came after it was not read as part of the relay.
    assert.equal(figures.messagesFromClients, 7)
  })
})

test('R77 heartbeats: a client that stops answering pings is cut and the upstream gets 1001 well before idleTimeout; a live pair stays, and the proxy\'s pongs are not forwarded', async () => {
  await withRelay({ relay: { heartbeat: { interval: '300ms', timeout: '200ms' } } }, async ({ url, proxy, upstreamSockets }) => {
    const live = await openWs(url)
    let livePings = 0
    live.on('ping', () => { livePings++ })
    await until(() => upstreamSockets.length === 1, 'the live upstream socket')
    let upstreamPongs = 0
    upstreamSockets[0].on('pong', () => { upstreamPongs++ })

    // A raw client completes the handshake and then never answers a ping.
    const dead = await RawClient.open(proxy.port)
    try {
      dead.write(requestHead({ path: '/ws' }))
      assert.equal((await dead.head()).statusCode, 101)
      const openedAt = Date.now()
      await until(() => upstreamSockets.length === 2, 'the dead client\'s upstream socket')
      assert.deepEqual(await closeEvent(upstreamSockets[1], 10_000), [1001, 'client did not answer ping'])
      const elapsed = Date.now() - openedAt
      assert.ok(elapsed >= 450 && elapsed <= 500 + 3000, `found dead after ${elapsed} ms (interval 300 ms + timeout 200 ms)`)
      await dead.untilClosed()
    } finally {
      await dead.destroy()
    }
    assert.ok(livePings >= 1, 'the live client was pinged')
    assert.equal(live.readyState, live.OPEN)
    assert.equal(await echoOnce(live, 'still alive'), 'still alive')
    assert.equal(upstreamPongs, 0, 'pongs answering the proxy stayed at the proxy')
    await closeWs(live)
    await until(() => relayLogs(proxy.logs).length === 2, 'two access-log lines')
    assert.equal(relayLogs(proxy.logs)[0].closedBy, 'heartbeat')
  })
})

test('R77 heartbeats: an upstream that stops answering pings is cut and the client gets 1001', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => { socket.write(switchingHead(headers['sec-websocket-key'])) })
  const proxy = await startProxy({
    upstreams: { a: { servers: [upstream.url] } },
    routes: [{ path: '/ws', upstream: 'a', mode: 'relay', idleTimeout: '1h', relay: { heartbeat: { interval: '300ms', timeout: '200ms' } } }],
    shutdownTimeout: 200
  })
  try {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.deepEqual(await closeEvent(ws, 10_000), [1001, 'upstream did not answer ping'])
    await until(() => relayLogs(proxy.logs).length === 1, 'the access-log line')
    assert.equal(relayLogs(proxy.logs)[0].closedBy, 'heartbeat')
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
