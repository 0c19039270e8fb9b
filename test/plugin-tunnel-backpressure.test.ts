import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  clientFrameHeader, patternBytes, requestHead, serverFrameHeader, switchingHead
} from './helpers/raw-http.js'
import { withRawTunnel } from './helpers/raw-tunnel.js'
import { until } from './helpers/ws-clients.js'

// R15: a peer that stops reading makes the proxy stop reading the other side,
// so what the proxy holds per connection stays bounded however much is
// offered. The flood is 64 MiB written as references to one 64 KiB buffer:
// the sender's own queue costs no memory, so buffer growth measured after a
// full collection is the proxy's.

const MiB = 1024 * 1024

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

/** A full collection, so memory figures count live buffers only (the flag is set once, at run time). */
function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
}

const FLOOD = 64 * MiB
const FLOOD_CHUNK = patternBytes(64 * 1024, 3)

/** `body` is the frame `header` followed by the flood, FLOOD_CHUNK after FLOOD_CHUNK: nothing lost, doubled or reordered. */
function assertFloodIntact (body: Buffer, header: Buffer): void {
  assert.ok(body.subarray(0, header.length).equals(header))
  for (let at = header.length; at < body.length; at += FLOOD_CHUNK.length) {
    if (!body.subarray(at, at + FLOOD_CHUNK.length).equals(FLOOD_CHUNK)) assert.fail(`flood corrupted at byte ${at - header.length}`)
  }
}

test('R15 a client that stops reading makes the proxy stop reading the upstream; proxy memory stays bounded while the upstream offers 64 MiB', async () => {
  let writesRefused = 0
  let offered = 0
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write(switchingHead(headers['sec-websocket-key']))
      // One binary frame of 64 MiB.
      socket.write(serverFrameHeader(2, FLOOD))
      for (let sent = 0; sent < FLOOD; sent += FLOOD_CHUNK.length) {
        if (!socket.write(FLOOD_CHUNK)) writesRefused++
        offered += FLOOD_CHUNK.length
      }
    }
  }, async ({ proxy, client, upstream }) => {
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    client.write(requestHead())
    client.socket.pause()
    await until(() => offered === FLOOD, 'the upstream offering the whole flood')
    const exchange = upstream.exchanges[0]
    const atProxy = proxy.clientSockets[0]
    await stalled(() => atProxy.bytesWritten, 'the flood to stall')
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
    assertFloodIntact(client.received.subarray(head.length), header)
  })
})

test('R15 an upstream that stops reading makes the proxy stop reading the client; proxy memory stays bounded while the client offers 64 MiB', async () => {
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write(switchingHead(headers['sec-websocket-key']))
      socket.pause()
    }
  }, async ({ proxy, client, upstream }) => {
    client.write(requestHead())
    assert.equal((await client.head()).statusCode, 101)
    const exchange = upstream.exchanges[0]
    const atProxy = proxy.clientSockets[0]
    collectGarbage()
    const before = process.memoryUsage().arrayBuffers
    const header = clientFrameHeader(2, FLOOD)
    client.write(header)
    let writesRefused = 0
    for (let sent = 0; sent < FLOOD; sent += FLOOD_CHUNK.length) {
      if (!client.socket.write(FLOOD_CHUNK)) writesRefused++
    }
    await stalled(() => atProxy.bytesRead, 'the flood to stall')
    collectGarbage()
    const growth = process.memoryUsage().arrayBuffers - before
    assert.ok(writesRefused > 0, 'the client hit backpressure')
    assert.ok(client.socket.writableLength >= 32 * MiB,
      `the client still holds most of the flood (${client.socket.writableLength} bytes): the proxy stopped reading it`)
    assert.ok(growth <= MiB, `buffer memory grew by ${growth} bytes`)

    exchange.socket.resume()
    await until(() => exchange.byteCount >= header.length + FLOOD, 'the whole flood at the upstream', 30_000)
    const body = Buffer.concat(exchange.received)
    assert.equal(body.length, header.length + FLOOD)
    assertFloodIntact(body, header)
  })
})
