import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { WebSocket } from 'ws'
import type { MessageHook } from '../plugin/index.js'
import { closeEvent, relayLogs, withRelay } from './helpers/relay-fixture.js'
import { closeWs, collectMessages, echoOnce, openWs, until } from './helpers/ws-clients.js'

// Relay lines R72, R73 and R78: backpressure both ways with bounded
// buffers, the send and idle timeouts, compression per side, and shutdown
// with a close frame.

const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 7)
const FLOOD_MESSAGES = 1024

/** Waits until `moved()` has not changed for 30 polls: every buffer on the way is full. */
async function stalled (moved: () => number, what: string): Promise<void> {
  let last = -1
  let steady = 0
  await until(() => {
    steady = moved() === last ? steady + 1 : 0
    last = moved()
    return steady >= 30
  }, what, 20_000)
}

/** A full collection, so memory figures count live buffers only. */
function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
}

/** The upstream sends 64 MiB (one buffer, referenced 1024 times, so its own queue costs nothing) when asked. */
function flooder (ws: WebSocket): void {
  ws.on('message', () => {
    for (let i = 0; i < FLOOD_MESSAGES; i++) ws.send(CHUNK)
  })
}

test('R72 a client that stops reading makes the relay stop reading the upstream: what the proxy buffers stays under a few hundred KiB of a 64 MiB flood', async () => {
  await withRelay({ backends: [{ echo: false, onConnection: flooder }] }, async ({ url, upstreamSockets, clientSockets }) => {
    const ws = await openWs(url)
    const atProxy = clientSockets[clientSockets.length - 1]
    let received = 0
    ws.on('message', (data: Buffer) => { received += data.length })
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    ws.pause()
    ws.send('flood')
    await until(() => upstreamSockets.length === 1, 'the upstream socket')
    await stalled(() => atProxy.bytesWritten, 'the flood to stall')
    collectGarbage()
    const growth = process.memoryUsage().arrayBuffers - before
    assert.ok(upstreamSockets[0].bufferedAmount >= 32 * MiB, `the upstream still holds most of the flood (${upstreamSockets[0].bufferedAmount} bytes): the relay stopped reading it`)
    assert.ok(atProxy.writableLength <= 256 * 1024, `the proxy queued ${atProxy.writableLength} bytes for the client`)
    assert.ok(growth <= 4 * MiB, `buffer memory grew by ${growth} bytes`)
    ws.resume()
    await until(() => received === FLOOD_MESSAGES * CHUNK.length, 'the whole flood at the client', 60_000)
    await closeWs(ws)
  })
})

test('R72 an upstream that stops reading makes the relay stop reading the client', async () => {
  await withRelay({ backends: [{ echo: false, onConnection: (ws) => { ws.pause() } }] }, async ({ url, upstreamSockets, clientSockets }) => {
    // An all-zero mask key is valid and lets ws send the one buffer without copying it, so the client's own queue costs nothing.
    const ws = await openWs(url, [], { generateMask: (mask: Buffer) => { mask.fill(0) } })
    const atProxy = clientSockets[clientSockets.length - 1]
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < FLOOD_MESSAGES; i++) ws.send(CHUNK)
    await stalled(() => atProxy.bytesRead, 'the flood to stall')
    collectGarbage()
    const growth = process.memoryUsage().arrayBuffers - before
    assert.ok(ws.bufferedAmount >= 32 * MiB, `the client still holds most of the flood (${ws.bufferedAmount} bytes): the relay stopped reading it`)
    assert.ok(growth <= 4 * MiB, `buffer memory grew by ${growth} bytes`)
    const received = collectMessages(upstreamSockets[0])
    upstreamSockets[0].resume()
    await until(() => received.length === FLOOD_MESSAGES, 'the whole flood at the upstream', 60_000)
    assert.ok(received.every(m => m.data.equals(CHUNK)))
    await closeWs(ws)
  })
})

test('R72 messages waiting for a busy async hook are bounded in bytes too: the relay stops reading the client, and order survives the wait', async () => {
  let release: () => void = () => {}
  const held = new Promise<void>(resolve => { release = resolve })
  const onMessage: MessageHook = async ({ direction }) => {
    if (direction === 'fromClient') await held
    return undefined
  }
  await withRelay({ relay: { onMessage } }, async ({ url, upstreamSockets, upstreamReceived, clientSockets }) => {
    const ws = await openWs(url, [], { generateMask: (mask: Buffer) => { mask.fill(0) } })
    const atProxy = clientSockets[clientSockets.length - 1]
    const message = Buffer.alloc(MiB, 1)
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 40; i++) {
      message[0] = i
      ws.send(Buffer.from(message))
    }
    await stalled(() => atProxy.bytesRead, 'the client to stall behind the held hook')
    collectGarbage()
    const growth = process.memoryUsage().arrayBuffers - before - 40 * MiB
    assert.ok(growth <= 8 * MiB, `the proxy holds ${growth} bytes of messages waiting for the hook`)
    assert.ok(ws.bufferedAmount >= 16 * MiB, `the client still holds most of what it sent (${ws.bufferedAmount} bytes)`)
    release()
    const atUpstream = upstreamReceived.get(upstreamSockets[0]) ?? []
    await until(() => atUpstream.length === 40, 'all forty messages at the upstream', 60_000)
    assert.deepEqual(atUpstream.map(m => m.data[0]), Array.from({ length: 40 }, (_, i) => i))
    await closeWs(ws)
  })
})

test('R72 sendTimeout: a client that takes nothing for that long is cut and the upstream gets 1001; traffic restarts idleTimeout, silence ends the relay with 1001 on both sides', async () => {
  await withRelay({ route: { sendTimeout: '1s' }, backends: [{ echo: false, onConnection: flooder }] }, async ({ url, upstreamSockets, proxy }) => {
    const ws = await openWs(url)
    ws.pause()
    const startedAt = Date.now()
    ws.send('flood')
    await until(() => upstreamSockets.length === 1, 'the upstream socket')
    const [code, reason] = await closeEvent(upstreamSockets[0], 10_000)
    const elapsed = Date.now() - startedAt
    assert.deepEqual([code, reason], [1001, 'peer stopped reading'])
    assert.ok(elapsed >= 950 && elapsed <= 8000, `closed after ${elapsed} ms (sendTimeout 1 s)`)
    ws.terminate()
    await until(() => relayLogs(proxy.logs).length === 1, 'the access-log line')
    assert.equal(relayLogs(proxy.logs)[0].closedBy, 'send-timeout')
  })
  await withRelay({ route: { idleTimeout: '600ms' } }, async ({ url, upstreamSockets, proxy }) => {
    const ws = await openWs(url)
    for (let n = 0; n < 5; n++) {
      await new Promise(resolve => setTimeout(resolve, 250))
      assert.equal(await echoOnce(ws, `keep alive ${n}`), `keep alive ${n}`)
    }
    const lastTraffic = Date.now()
    const atClient = closeEvent(ws)
    const atUpstream = closeEvent(upstreamSockets[0])
    assert.deepEqual(await atClient, [1001, 'idle timeout'])
    assert.deepEqual(await atUpstream, [1001, 'idle timeout'])
    const idleFor = Date.now() - lastTraffic
    assert.ok(idleFor >= 550 && idleFor <= 600 + 1500, `closed ${idleFor} ms after the last message (idleTimeout 600 ms)`)
    await until(() => relayLogs(proxy.logs).length === 1, 'the access-log line')
    assert.equal(relayLogs(proxy.logs)[0].closedBy, 'idle-timeout')
  })
})

test('R73 compression is off by default and negotiated per side when turned on; compressed messages cross unchanged', async () => {
  const offer = { perMessageDeflate: { threshold: 0 } }
  await withRelay({}, async ({ url, backends }) => {
    const ws = new WebSocket(url, offer)
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    assert.equal(ws.extensions, '', 'the client was not offered compression back')
    assert.equal(backends[0].upgrades[0].headers['sec-websocket-extensions'], undefined, 'the upstream was not offered compression')
    await closeWs(ws)
  })
  for (const side of ['client', 'upstream'] as const) {
    await withRelay({ relay: { compression: { [side]: true } }, backends: [{ wsOptions: { perMessageDeflate: { threshold: 0 } } }] }, async ({ url, backends }) => {
      const ws = new WebSocket(url, offer)
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      assert.equal(ws.extensions.startsWith('permessage-deflate'), side === 'client', `client side with ${side} on: "${ws.extensions}"`)
      assert.equal(backends[0].upgrades[0].headers['sec-websocket-extensions']?.startsWith('permessage-deflate') ?? false, side === 'upstream')
      const text = 'compressible '.repeat(10_000)
      assert.equal(await echoOnce(ws, text), text)
      await closeWs(ws)
    })
  }
})

test('R78 closing the app sends every open relay a 1001 close frame on both sides at once, not a cut at shutdownTimeout', async () => {
  await withRelay({ shutdownTimeout: 8000 }, async ({ url, upstreamSockets, proxy }) => {
    const ws = await openWs(url)
    assert.equal(await echoOnce(ws, 'before shutdown'), 'before shutdown')
    const atClient = closeEvent(ws, 5000)
    const atUpstream = closeEvent(upstreamSockets[0], 5000)
    const closing = proxy.close()
    assert.deepEqual(await atClient, [1001, 'server shutting down'])
    assert.deepEqual(await atUpstream, [1001, 'server shutting down'])
    await closing
    assert.equal(relayLogs(proxy.logs)[0].closedBy, 'shutdown')
  })
})
