import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WebSocket, type RawData } from 'ws'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { clientFrame, requestHead, serverFrame, switchingHead } from './helpers/raw-http.js'
import { withRawTunnel } from './helpers/raw-tunnel.js'
import { closeWs, collectMessages, openWs, until, type Message } from './helpers/ws-clients.js'
import { onceWithin } from './helpers/timing.js'

// Tunnel lines R9-R11: bytes next to the 101 are neither lost nor sent early,
// and frames of any size cross unchanged and in order. R12-R13 are in
// plugin-tunnel-protocol.test.ts, R14-R15 in plugin-tunnel-flow.test.ts.

test('R9 client frames in the same write as the handshake reach the upstream only after its 101, in order', async () => {
  let earlyBytes = -1
  await withRawTunnel({
    answer: (exchange) => {
      // Give bytes the proxy might wrongly send with the request time to arrive before we answer.
      setTimeout(() => {
        earlyBytes = exchange.byteCount
        exchange.socket.write(switchingHead(exchange.headers['sec-websocket-key']))
      }, 50)
    }
  }, async ({ client, upstream }) => {
    const frames = Buffer.concat([
      clientFrame(1, Buffer.from('first')),
      clientFrame(2, Buffer.from([0, 1, 2, 254, 255])),
      clientFrame(1, Buffer.from('third'))
    ])
    client.write(Buffer.concat([Buffer.from(requestHead(), 'latin1'), frames]))
    assert.equal((await client.head()).statusCode, 101)
    const seen = upstream.exchanges[0]
    await until(() => seen.byteCount >= frames.length, 'the early frames at the upstream')
    assert.equal(earlyBytes, 0, 'no client byte reached the upstream before its 101')
    assert.deepEqual(Buffer.concat(seen.received), frames)
  })
})

test('R9 client frames sent while the upstream is still deciding reach it after its 101, in order', async () => {
  let release: () => void = () => {}
  let earlyBytes = -1
  await withRawTunnel({
    answer: (exchange) => {
      release = () => {
        earlyBytes = exchange.byteCount
        exchange.socket.write(switchingHead(exchange.headers['sec-websocket-key']))
      }
    }
  }, async ({ proxy, client, upstream }) => {
    client.write(requestHead())
    await until(() => upstream.exchanges.length === 1, 'the upgrade at the upstream')
    const frames = [clientFrame(1, Buffer.from('while waiting 1')), clientFrame(2, Buffer.alloc(30_000, 7))]
    for (const frame of frames) client.write(frame)
    // Let the frames reach the proxy before the upstream answers.
    await until(() => proxy.clientSockets[0].bytesRead >= Buffer.byteLength(requestHead()) + frames[0].length + frames[1].length, 'the frames at the proxy')
    release()
    assert.equal((await client.head()).statusCode, 101)
    const seen = upstream.exchanges[0]
    const expected = Buffer.concat(frames)
    await until(() => seen.byteCount >= expected.length, 'the frames at the upstream')
    assert.equal(earlyBytes, 0, 'no client byte reached the upstream before its 101')
    assert.ok(Buffer.concat(seen.received).equals(expected))
  })
})

test('R9 early client frames are echoed by a real ws backend in order', async () => {
  await withRawTunnel({}, async ({ client }) => {
    const payloads = ['one', 'two', 'three'].map(text => Buffer.from(text))
    client.write(Buffer.concat([Buffer.from(requestHead(), 'latin1'), ...payloads.map(p => clientFrame(1, p))]))
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    const expected = Buffer.concat(payloads.map(p => serverFrame(1, p)))
    await client.waitFor(bytes => bytes.length >= head.length + expected.length, 'the echoed frames')
    assert.deepEqual(client.received.subarray(head.length), expected)
  })
})

test('R10 upstream frames in the same packet as its 101 reach the client in order, raw and through a ws client', async () => {
  const after = Buffer.concat([serverFrame(1, Buffer.from('hello right after the 101')), serverFrame(2, Buffer.from([9, 8, 7]))])
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write(Buffer.concat([Buffer.from(switchingHead(headers['sec-websocket-key']), 'latin1'), after]))
    }
  }, async ({ proxy, client }) => {
    client.write(requestHead())
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    await client.waitFor(bytes => bytes.length >= head.length + after.length, 'the frames after the 101')
    assert.deepEqual(client.received.subarray(head.length), after)

    const ws = new WebSocket(proxy.wsUrl)
    ws.on('error', () => {})
    const messages = collectMessages(ws)
    await until(() => messages.length === 2, 'two messages at the ws client')
    assert.deepEqual(messages, [
      { data: Buffer.from('hello right after the 101'), binary: false },
      { data: Buffer.from([9, 8, 7]), binary: true }
    ])
    ws.terminate()
    await onceWithin(ws, 'close')
  })
})

function bigFrame (i: number): Buffer {
  // ~48 KiB with a pattern that differs per frame, so a swap or a splice shows.
  const size = 48 * 1024 + i * 7
  const buf = Buffer.alloc(size)
  for (let j = 0; j < size; j++) buf[j] = (j * 31 + i * 17) & 0xff
  return buf
}

test('R11 10 back-to-back ~48 KiB frames interleaved with small ones cross intact and in order both ways; a 16 MiB message passes unchanged', async () => {
  const baseline = openFdCount()
  const atBackend: Message[] = []
  const proxy = await startProxyFixture({
    backends: [{
      name: 'r11',
      echo: false,
      onConnection: (ws) => {
        ws.on('message', (data: RawData, binary: boolean) => {
          atBackend.push({ data: data as Buffer, binary })
          if (!binary && String(data) === 'burst') {
            for (let i = 0; i < 10; i++) {
              ws.send(bigFrame(100 + i))
              ws.send(`upstream small ${i}`)
            }
          } else {
            ws.send(data as Buffer, { binary })
          }
        })
      }
    }]
  })
  const ws = await openWs(proxy.wsUrl, [], { maxPayload: 64 * 1024 * 1024 })
  try {
    const received = collectMessages(ws)
    const sent: Message[] = []
    for (let i = 0; i < 10; i++) {
      sent.push({ data: bigFrame(i), binary: true }, { data: Buffer.from(`client small ${i}`), binary: false })
    }
    for (const message of sent) ws.send(message.data, { binary: message.binary })
    await until(() => received.length === sent.length, 'all 20 echoes')
    assert.deepEqual(atBackend, sent, 'client to upstream, in order')
    assert.deepEqual(received, sent, 'upstream to client, in order')

    ws.send('burst')
    await until(() => received.length === sent.length + 20, 'the upstream burst')
    const burst: Message[] = []
    for (let i = 0; i < 10; i++) {
      burst.push({ data: bigFrame(100 + i), binary: true }, { data: Buffer.from(`upstream small ${i}`), binary: false })
    }
    assert.deepEqual(received.slice(sent.length), burst)

    const huge = Buffer.alloc(16 * 1024 * 1024)
    for (let j = 0; j < huge.length; j += 4) huge.writeUInt32LE((j * 2654435761) >>> 0, j)
    const echoed = onceWithin(ws, 'message')
    ws.send(huge)
    const [data] = await echoed
    assert.ok(huge.equals(data as Buffer), 'the 16 MiB message came back unchanged')
  } finally {
    await closeWs(ws)
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})
