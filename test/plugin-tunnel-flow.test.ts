import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { startRawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture, type ProxyFixture } from './helpers/proxy-fixture.js'
import { clientFrame, patternBytes, RawClient, requestHead, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { withRawTunnel } from './helpers/raw-tunnel.js'
import { assertTimer } from './helpers/timing.js'
import { until } from './helpers/ws-clients.js'

// Flow line R14: FINs travel behind the bytes still queued, and a half-closed
// tunnel is bounded by finTimeout. Raw sockets on both sides, so each half of
// each connection is under the test's control. Backpressure is in
// plugin-tunnel-backpressure.test.ts.

const MiB = 1024 * 1024

async function tunnelsClosed (proxy: ProxyFixture): Promise<void> {
  await until(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'every tunnel closed')
}

/** Resolves when the socket of `exchange` is closed. */
async function upstreamClosed (exchange: RawExchange): Promise<void> {
  await until(() => exchange.socket.destroyed, 'the upstream socket closed')
}

test('R14 upstream FIN: the client gets every pending byte, then the FIN; the other half keeps flowing until the client closes', async () => {
  const payload = patternBytes(4 * MiB, 1)
  const sent = Buffer.concat([serverFrameHeader(2, payload.length), payload])
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write(switchingHead(headers['sec-websocket-key']))
      socket.end(sent)
    },
    allowHalfOpen: true
  }, async ({ proxy, client, upstream }) => {
    client.write(requestHead())
    // Not reading for a while keeps bytes queued in the proxy when the upstream's FIN arrives.
    client.socket.pause()
    await until(() => upstream.exchanges.length === 1 && upstream.exchanges[0].socket.writableFinished, 'the upstream FIN sent')
    client.socket.resume()
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    await until(() => client.ended, 'the FIN at the client')
    assert.equal(client.byteCount, head.length + sent.length)
    assert.ok(client.received.subarray(head.length).equals(sent), 'every byte, in order, before the FIN')

    // The client's half is still open: what it sends now still reaches the upstream.
    const late = clientFrame(1, Buffer.from('sent after the upstream FIN'))
    client.write(late)
    const exchange = upstream.exchanges[0]
    await until(() => exchange.byteCount === late.length, 'the late frame at the upstream')
    assert.deepEqual(Buffer.concat(exchange.received), late)
    client.socket.end()
    await until(() => exchange.ended, 'the client FIN at the upstream')
    await client.untilClosed()
    await upstreamClosed(exchange)
    await tunnelsClosed(proxy)
  })
})

test('R14 client FIN: the upstream gets every pending byte, then the FIN, and the tunnel closes when it answers with its own', async () => {
  const payload = patternBytes(4 * MiB, 2)
  const sent = clientFrame(2, payload)
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write(switchingHead(headers['sec-websocket-key']))
      // A slow reader: the proxy has bytes queued for it when the client's FIN arrives.
      socket.pause()
      setTimeout(() => socket.resume(), 200)
    },
    allowHalfOpen: true
  }, async ({ proxy, client, upstream }) => {
    client.write(requestHead())
    assert.equal((await client.head()).statusCode, 101)
    client.socket.end(sent)
    const exchange = upstream.exchanges[0]
    await until(() => exchange.ended, 'the client FIN at the upstream')
    assert.equal(exchange.byteCount, sent.length)
    assert.ok(Buffer.concat(exchange.received).equals(sent), 'every byte, in order, before the FIN')
    assert.equal(client.closed, false, 'the upstream half is still open')
    exchange.socket.end()
    await until(() => client.ended, 'the upstream FIN at the client')
    await client.untilClosed()
    await upstreamClosed(exchange)
    await tunnelsClosed(proxy)
  })
})

test('R10 R14 an upstream that sends its 101, a frame and its FIN in one packet: the client gets both, then the FIN', async () => {
  const frame = serverFrameHeader(1, 4)
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.end(Buffer.concat([Buffer.from(switchingHead(headers['sec-websocket-key']), 'latin1'), frame, Buffer.from('last')]))
    },
    allowHalfOpen: true
  }, async ({ proxy, client }) => {
    client.write(requestHead())
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    await until(() => client.ended, 'the upstream FIN at the client', 5000)
    assert.deepEqual(client.received.subarray(head.length), Buffer.concat([frame, Buffer.from('last')]))
    client.socket.end()
    await client.untilClosed()
    await tunnelsClosed(proxy)
  })
})

/** A peer that already read the FIN only learns of the reset by writing again: write until the socket dies. */
async function writeUntilReset (socket: Socket): Promise<void> {
  await until(() => {
    if (!socket.destroyed) socket.write('anyone there?')
    return socket.destroyed
  }, 'a reset on the half left open', 5000)
}

test('R14 finTimeout closes a tunnel left half-closed by either side, finTimeout after the FIN (not sooner)', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    // The upstream closes its half at once when asked to; otherwise it keeps both halves open.
    if (headers['x-case'] === 'upstream-fin') socket.end()
  })
  // The default finTimeout (30 s) is far beyond the waits below, so only this setting can close these.
  const finTimeout = 1200
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url], route: { finTimeout } })
  try {
    for (const [i, side] of ['upstream-fin', 'client-fin'].entries()) {
      const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
      try {
        const requested = Date.now()
        client.write(requestHead({ headers: [`X-Case: ${side}`] }))
        assert.equal((await client.head()).statusCode, 101)
        const exchange = upstream.exchanges[i]
        // The proxy arms finTimeout when it passes the FIN on: after the FIN was sent, before it arrived on the other side.
        let finSent = requested
        if (side === 'upstream-fin') {
          await until(() => client.ended, 'the upstream FIN at the client')
        } else {
          finSent = Date.now()
          client.socket.end()
          await until(() => exchange.ended, 'the client FIN at the upstream')
        }
        const finArrived = Date.now()
        // Neither peer closes its other half: the proxy has to, and closes both of its sockets.
        await until(() => proxy.clientSockets[i].destroyed, `${side}: the proxy closing its client socket`, finTimeout + 5000)
        assertTimer(Date.now(), { armedAfter: finSent, armedBefore: finArrived }, finTimeout, 0, `${side}: finTimeout`)
        await tunnelsClosed(proxy)
        // The half the peer kept open leads nowhere now: writes there are answered with a reset.
        await writeUntilReset(side === 'upstream-fin' ? client.socket : exchange.socket)
      } finally {
        await client.destroy()
      }
    }
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
