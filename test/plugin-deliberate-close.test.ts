import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket } from 'ws'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy, tunnelLogs, waitFor } from './helpers/plugin-harness.js'
import { clientFrame, clientFrameHeader, patternBytes, RawClient, requestHead, serverFrame, serverFrameHeader, switchingHead } from './helpers/raw-http.js'
import { openWs } from './helpers/ws-clients.js'

// R97: when ws-cluster ends a tunnel itself it sends close frames at frame
// boundaries, unmasked to the client and masked to the upstream, and lets the
// closing handshake finish before the FIN.

const CLOSE_1001 = Buffer.from([0x88, 0x02, 0x03, 0xe9])

/** The status code of a masked close frame (8 bytes: header, mask key, masked code). */
function maskedCloseCode (frame: Buffer): number {
  assert.equal(frame.length, 8, 'a close frame with a code and no reason')
  assert.equal(frame[0], 0x88, 'FIN + close opcode')
  assert.equal(frame[1], 0x82, 'masked, 2 bytes of payload')
  return ((frame[6] as number) ^ (frame[2] as number)) << 8 | ((frame[7] as number) ^ (frame[3] as number))
}

test('R97 R39 stop with a frame half-sent in each direction: each frame is finished, then a 1001 close frame (unmasked to the client, masked to the upstream); the closing handshake ends both sides', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => { socket.write(switchingHead(headers['sec-websocket-key'])) })
  const proxy = await startProxy({ upstreams: { raw: { servers: [upstream.url] } }, routes: [{ path: '/ws', upstream: 'raw' }], shutdownTimeout: '10s', closeSpread: 0 })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
    client.write(requestHead())
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    const headLength = client.received.indexOf('\r\n\r\n') + 4
    await waitFor(() => upstream.exchanges.length === 1, 'the upstream connection')
    const exchange = upstream.exchanges[0]
    const down = patternBytes(1000, 1)
    const up = patternBytes(1000, 2)
    exchange.socket.write(Buffer.concat([serverFrameHeader(2, 1000), down.subarray(0, 400)]))
    client.write(Buffer.concat([clientFrameHeader(2, 1000), up.subarray(0, 400)]))
    await client.waitForBytes(headLength + 4 + 400)
    await waitFor(() => exchange.byteCount === 8 + 400, 'half a frame at the upstream')

    const closing = proxy.close()
    await waitFor(() => proxy.logs.some(line => String(line.msg).startsWith('closing open tunnels')), 'the stop began')
    await sleep(200)
    assert.equal(client.byteCount, headLength + 4 + 400, 'nothing is put inside the frame the client is receiving')
    assert.equal(exchange.byteCount, 8 + 400, 'nothing is put inside the frame the upstream is receiving')

    exchange.socket.write(down.subarray(400))
    client.write(up.subarray(400))
    await client.waitForBytes(headLength + 4 + 1000 + CLOSE_1001.length)
    assert.deepEqual(client.received.subarray(headLength + 4), Buffer.concat([down, CLOSE_1001]), 'the rest of the frame, then 1001')
    await waitFor(() => exchange.byteCount === 8 + 1000 + 8, 'the rest of the frame and a close frame at the upstream')
    const atUpstream = Buffer.concat(exchange.received)
    assert.deepEqual(atUpstream.subarray(8, 8 + 1000), up)
    assert.equal(maskedCloseCode(atUpstream.subarray(8 + 1000)), 1001)

    // The client answers the close: it gets the FIN (the server side closes first); its answer is not relayed.
    client.write(clientFrame(8, Buffer.from([0x03, 0xe9])))
    await waitFor(() => client.ended, 'the FIN to the client')
    exchange.socket.end(serverFrame(8, Buffer.from([0x03, 0xe9])))
    await closing
    assert.equal(exchange.byteCount, 8 + 1000 + 8, 'the client\'s close answer stayed at the proxy')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown'])
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

/** Sends fragmented 256 KiB messages as fast as the socket takes them, until the socket closes. */
function streamFragments (ws: WebSocket): void {
  const fragment = Buffer.alloc(256 * 1024, 0x5a)
  let part = 0
  const pump = (): void => {
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) {
      part++
      ws.send(fragment, { binary: true, fin: part % 5 === 0 })
    }
    if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 2)
  }
  pump()
}

test('R97 R39 stop while large fragmented messages flow both ways (real ws on both ends): every client gets 1001 with no protocol error, and the backend gets a valid masked 1001', async () => {
  const baseline = openFdCount()
  const backendErrors: Error[] = []
  const backendCodes: number[] = []
  const backend = await startEchoBackend({
    echo: false,
    onConnection: (ws) => {
      ws.on('error', (err) => backendErrors.push(err))
      ws.on('close', (code) => backendCodes.push(code))
      streamFragments(ws)
    }
  })
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: '10s', closeSpread: '300ms' })
  try {
    const clients = await Promise.all([1, 2, 3].map(async () => await openWs(`${proxy.wsBase}/ws`)))
    const clientErrors: Error[] = []
    const received = clients.map(() => 0)
    const codes = clients.map(async (ws, i) => {
      ws.on('error', (err) => clientErrors.push(err))
      ws.on('message', (data: Buffer) => { received[i] += data.length })
      streamFragments(ws)
      const [code] = await once(ws, 'close') as [number]
      return code
    })
    await waitFor(() => received.every(bytes => bytes > 2 * 1024 * 1024) && backend.sockets.size === 3, 'messages flowing both ways', 10_000)
    await proxy.close()
    assert.deepEqual(await Promise.all(codes), [1001, 1001, 1001])
    assert.deepEqual(clientErrors.map(err => err.message), [], 'no client saw a protocol error')
    await waitFor(() => backendCodes.length === 3, 'the backend sockets closed')
    assert.deepEqual(backendCodes, [1001, 1001, 1001])
    assert.deepEqual(backendErrors.map(err => err.message), [], 'the backend saw no protocol error')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown', 'shutdown', 'shutdown'])
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R97 an upgrade to another protocol than WebSocket is not framed: a stop ends it with a FIN both ways, nothing added to the stream', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket }) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: example/1\r\nConnection: Upgrade\r\n\r\n')
  })
  const proxy = await startProxy({
    upstreams: { raw: { servers: [upstream.url] } },
    routes: [{ path: '/ws', upstream: 'raw', upgradeProtocols: ['example/1'] }],
    shutdownTimeout: '10s'
  })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
  try {
    client.write(requestHead({ bare: true, headers: ['Upgrade: example/1', 'Connection: Upgrade'] }))
    assert.equal((await client.head()).statusCode, 101)
    const headLength = client.received.indexOf('\r\n\r\n') + 4
    client.write('ping')
    await waitFor(() => upstream.exchanges[0]?.byteCount === 4, 'the bytes at the upstream')
    const closing = proxy.close()
    await waitFor(() => client.ended && upstream.exchanges[0]?.ended === true, 'a FIN to each side')
    assert.equal(client.received.length, headLength, 'nothing was added to the client\'s stream')
    assert.equal(upstream.exchanges[0]?.byteCount, 4, 'nothing was added to the upstream\'s stream')
    client.socket.end()
    upstream.exchanges[0]?.socket.end()
    await closing
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['shutdown'])
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
