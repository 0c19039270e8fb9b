import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startRawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture, type ProxyFixture } from './helpers/proxy-fixture.js'
import { clientFrame, RawClient, requestHead, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { until } from './helpers/ws-clients.js'

// Flow lines R14-R15: FINs travel behind the bytes still queued, a half-closed
// tunnel is bounded by finTimeout, and a client that stops reading stops the
// proxy reading its upstream instead of growing a buffer. Raw sockets on both
// sides, so each half of each connection is under the test's control.

const MiB = 1024 * 1024

/** `size` bytes of a pattern that shows any loss, duplication or reordering. */
function pattern (size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return buf
}

async function tunnelsClosed (proxy: ProxyFixture): Promise<void> {
  await until(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'every tunnel closed')
}

/** Resolves when the socket of `exchange` is closed. */
async function upstreamClosed (exchange: RawExchange): Promise<void> {
  await until(() => exchange.socket.destroyed, 'the upstream socket closed')
}

test('R14 upstream FIN: the client gets every pending byte, then the FIN; the other half keeps flowing until the client closes', async () => {
  const baseline = openFdCount()
  const payload = pattern(4 * MiB, 1)
  const sent = Buffer.concat([serverFrameHeader(2, payload.length), payload])
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    socket.end(sent)
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R14 client FIN: the upstream gets every pending byte, then the FIN, and the tunnel closes when it answers with its own', async () => {
  const baseline = openFdCount()
  const payload = pattern(4 * MiB, 2)
  const sent = clientFrame(2, payload)
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    // A slow reader: the proxy has bytes queued for it when the client's FIN arrives.
    socket.pause()
    setTimeout(() => socket.resume(), 200)
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R9 R14 a client that sends its request, a frame and its FIN in one write: the upstream gets the frame after its 101, then the FIN', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
    const frame = clientFrame(1, Buffer.from('early, then FIN'))
    client.socket.end(Buffer.concat([Buffer.from(requestHead(), 'latin1'), frame]))
    await until(() => upstream.exchanges.length === 1, 'the upgrade at the upstream')
    const exchange = upstream.exchanges[0]
    await until(() => exchange.ended, 'the client FIN at the upstream', 5000)
    assert.deepEqual(Buffer.concat(exchange.received), frame)
    assert.equal((await client.head()).statusCode, 101)
    exchange.socket.end()
    await client.untilClosed()
    await tunnelsClosed(proxy)
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R10 R14 an upstream that sends its 101, a frame and its FIN in one packet: the client gets both, then the FIN', async () => {
  const baseline = openFdCount()
  const frame = serverFrameHeader(1, 4)
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.end(Buffer.concat([Buffer.from(switchingHead(headers['sec-websocket-key']), 'latin1'), frame, Buffer.from('last')]))
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
    client.write(requestHead())
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    await until(() => client.ended, 'the upstream FIN at the client', 5000)
    assert.deepEqual(client.received.subarray(head.length), Buffer.concat([frame, Buffer.from('last')]))
    client.socket.end()
    await client.untilClosed()
    await tunnelsClosed(proxy)
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

/** A peer that already read the FIN only learns of the reset by writing again: write until the socket dies. */
async function writeUntilReset (socket: Socket): Promise<void> {
  await until(() => {
    if (!socket.destroyed) socket.write('anyone there?')
    return socket.destroyed
  }, 'a reset on the half left open', 5000)
}

test('R14 finTimeout closes a tunnel left half-closed by either side', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    // The upstream closes its half at once when asked to; otherwise it keeps both halves open.
    if (headers['x-case'] === 'upstream-fin') socket.end()
  })
  // The default finTimeout (30 s) is far beyond the waits below, so only the 300 ms setting can close these.
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url], route: { finTimeout: 300 } })
  try {
    for (const [i, side] of ['upstream-fin', 'client-fin'].entries()) {
      const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
      try {
        client.write(requestHead({ headers: [`X-Case: ${side}`] }))
        assert.equal((await client.head()).statusCode, 101)
        const exchange = upstream.exchanges[i]
        if (side === 'upstream-fin') {
          await until(() => client.ended, 'the upstream FIN at the client')
        } else {
          client.socket.end()
          await until(() => exchange.ended, 'the client FIN at the upstream')
        }
        // Neither peer closes its other half: the proxy has to, and closes both of its sockets.
        await until(() => proxy.clientSockets[i].destroyed, `${side}: the proxy closing its client socket`, 5000)
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

/** A full collection, so memory figures count live buffers only (the flag is set once, at run time). */
function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
}

const FLOOD = 64 * MiB
const FLOOD_CHUNK = pattern(64 * 1024, 3)

test('R15 a client that stops reading makes the proxy stop reading the upstream; proxy memory stays bounded while the upstream offers 64 MiB', async () => {
  const baseline = openFdCount()
  let writesRefused = 0
  let offered = 0
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key']))
    // One binary frame of 64 MiB, written as references to one 64 KiB buffer: the upstream's
    // queue costs no memory of its own, so any growth measured below is the proxy's.
    socket.write(serverFrameHeader(2, FLOOD))
    for (let sent = 0; sent < FLOOD; sent += FLOOD_CHUNK.length) {
      if (!socket.write(FLOOD_CHUNK)) writesRefused++
      offered += FLOOD_CHUNK.length
    }
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port)
  try {
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    client.write(requestHead())
    client.socket.pause()
    await until(() => offered === FLOOD, 'the upstream offering the whole flood')
    const exchange = upstream.exchanges[0]
    const atProxy = proxy.clientSockets[0]
    // Wait until the bytes stop moving: every buffer on the way is full.
    let last = -1
    let steady = 0
    await until(() => {
      steady = atProxy.bytesWritten === last ? steady + 1 : 0
      last = atProxy.bytesWritten
      return steady >= 30
    }, 'the flood to stall', 20_000)
    collectGarbage()
    const growth = process.memoryUsage().arrayBuffers - before
    assert.ok(writesRefused > 0, 'the upstream hit backpressure')
    assert.ok(exchange.socket.writableLength >= 32 * MiB,
      `the upstream still holds most of the flood (${exchange.socket.writableLength} bytes): the proxy stopped reading it`)
    assert.ok(atProxy.writableLength <= 256 * 1024, `the proxy queued ${atProxy.writableLength} bytes for the client`)
    assert.ok(growth <= MiB, `buffer memory grew by ${growth} bytes`)

    // Reading again drains everything, intact.
    client.socket.resume()
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    const header = serverFrameHeader(2, FLOOD)
    await client.waitForBytes(head.length + header.length + FLOOD, 30_000)
    const body = client.received.subarray(head.length)
    assert.ok(body.subarray(0, header.length).equals(header))
    for (let at = header.length; at < body.length; at += FLOOD_CHUNK.length) {
      if (!body.subarray(at, at + FLOOD_CHUNK.length).equals(FLOOD_CHUNK)) assert.fail(`flood corrupted at byte ${at - header.length}`)
    }
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
