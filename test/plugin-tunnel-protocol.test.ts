import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { WebSocket, type RawData } from 'ws'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { closeWs, collectMessages, openWs, until, type Message } from './helpers/ws-clients.js'
import { onceWithin } from './helpers/timing.js'

// Tunnel lines R12-R13: the WebSocket protocol stays end to end. The proxy
// never parses frames, so opcodes, fragments, control frames, close codes,
// extensions and subprotocols are whatever client and upstream agreed on.

/** Server-side sockets of the backend, newest last, with what each received. */
function trackBackendSockets (): { sockets: WebSocket[], received: Map<WebSocket, Message[]>, onConnection: (ws: WebSocket) => void } {
  const sockets: WebSocket[] = []
  const received = new Map<WebSocket, Message[]>()
  return {
    sockets,
    received,
    onConnection: (ws) => {
      sockets.push(ws)
      received.set(ws, collectMessages(ws))
    }
  }
}

test('R12 text and binary opcodes, fragmented messages both ways, and pings/pongs each answered exactly once', async () => {
  const baseline = openFdCount()
  const backend = trackBackendSockets()
  const proxy = await startProxyFixture({ backends: [{ name: 'r12', onConnection: backend.onConnection }] })
  const ws = await openWs(proxy.wsUrl)
  try {
    const server = backend.sockets[0]
    const atBackend = backend.received.get(server) as Message[]
    const received = collectMessages(ws)
    ws.send('héllo ✓ text')
    ws.send(Buffer.from([0, 1, 2, 0xfe, 0xff]))
    // One message in three frames: the upstream must see one message, not three.
    ws.send('frag-a,', { fin: false })
    ws.send('frag-b,', { fin: false })
    ws.send('frag-c', { fin: true })
    await until(() => received.length === 3, 'three echoes')
    const expected: Message[] = [
      { data: Buffer.from('héllo ✓ text'), binary: false },
      { data: Buffer.from([0, 1, 2, 0xfe, 0xff]), binary: true },
      { data: Buffer.from('frag-a,frag-b,frag-c'), binary: false }
    ]
    assert.deepEqual(atBackend, expected)
    assert.deepEqual(received, expected)

    // The upstream fragments a binary message the same way.
    server.send(Buffer.from([1, 2]), { binary: true, fin: false })
    server.send(Buffer.from([3]), { binary: true, fin: true })
    await until(() => received.length === 4, 'the fragmented upstream message')
    assert.deepEqual(received[3], { data: Buffer.from([1, 2, 3]), binary: true })

    // Pings from the client: the upstream's automatic pongs come back once each.
    const clientPongs: string[] = []
    const backendPings: string[] = []
    ws.on('pong', (data: Buffer) => clientPongs.push(String(data)))
    server.on('ping', (data: Buffer) => backendPings.push(String(data)))
    for (const payload of ['p0', 'p1', 'p2']) ws.ping(payload)
    // The upstream answers a ping before it reads the next message, so this echo comes after every pong.
    ws.send('sync 1')
    await until(() => received.length === 5, 'the first sync echo')
    assert.deepEqual(backendPings, ['p0', 'p1', 'p2'])
    assert.deepEqual(clientPongs, ['p0', 'p1', 'p2'])

    // Pings from the upstream: the client's automatic pongs reach it once each.
    const clientPings: string[] = []
    const backendPongs: string[] = []
    ws.on('ping', (data: Buffer) => clientPings.push(String(data)))
    server.on('pong', (data: Buffer) => backendPongs.push(String(data)))
    for (const payload of ['u0', 'u1', 'u2']) server.ping(payload)
    server.send('sync 2')
    await until(() => received.length === 6, 'the second sync message')
    ws.send('sync 3')
    await until(() => received.length === 7, 'the third sync echo')
    assert.deepEqual(clientPings, ['u0', 'u1', 'u2'])
    assert.deepEqual(backendPongs, ['u0', 'u1', 'u2'])
  } finally {
    await closeWs(ws)
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

// Every code a ws endpoint may send: 1000-1014 except the reserved 1004-1006, and the 3000-4999 ranges.
const CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4321, 4999]

test('R12 close codes 1000-1014 and 3000-4999 and their reasons pass unchanged, whichever side closes', async () => {
  const baseline = openFdCount()
  const backend = trackBackendSockets()
  const proxy = await startProxyFixture({ backends: [{ name: 'r12-close', onConnection: backend.onConnection }] })
  try {
    const seen: Array<{ by: string, code: number, atClient: [number, string], atBackend: [number, string] }> = []
    for (const code of CLOSE_CODES) {
      for (const by of ['client', 'upstream']) {
        const ws = await openWs(proxy.wsUrl)
        const server = backend.sockets[backend.sockets.length - 1]
        const atClient = onceWithin(ws, 'close')
        const atBackend = onceWithin(server, 'close')
        const reason = `${by} closes with ${code} ✓`
        if (by === 'client') ws.close(code, reason)
        else server.close(code, reason)
        const [clientCode, clientReason] = await atClient as [number, Buffer]
        const [backendCode, backendReason] = await atBackend as [number, Buffer]
        seen.push({ by, code, atClient: [clientCode, String(clientReason)], atBackend: [backendCode, String(backendReason)] })
      }
    }
    // ws answers a close frame with the code and reason it received, so both ends see the closer's pair.
    assert.deepEqual(seen, CLOSE_CODES.flatMap(code => ['client', 'upstream'].map(by => {
      const pair: [number, string] = [code, `${by} closes with ${code} ✓`]
      return { by, code, atClient: pair, atBackend: pair }
    })))
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R13 permessage-deflate and the subprotocol are negotiated end to end and compressed frames cross as sent', async () => {
  const baseline = openFdCount()
  const backend = trackBackendSockets()
  const proxy = await startProxyFixture({
    backends: [{
      name: 'r13',
      onConnection: backend.onConnection,
      wsOptions: {
        perMessageDeflate: { threshold: 0 },
        handleProtocols: (offered: Set<string>) => offered.has('chat.v1') ? 'chat.v1' : false
      }
    }]
  })
  const ws = await openWs(proxy.wsUrl, ['chat.v2', 'chat.v1'], { perMessageDeflate: { threshold: 0 } })
  try {
    const upgrade = proxy.backends[0].upgrades[0] as IncomingMessage
    assert.equal(upgrade.headers['sec-websocket-protocol'], 'chat.v2,chat.v1')
    assert.match(String(upgrade.headers['sec-websocket-extensions']), /^permessage-deflate/)
    const server = backend.sockets[0]
    assert.equal(ws.protocol, 'chat.v1')
    assert.equal(server.protocol, 'chat.v1')
    assert.match(ws.extensions, /^permessage-deflate/)
    assert.equal(ws.extensions, server.extensions)

    const text = 'a compressible line of chat text\n'.repeat(8192)
    const echoed = onceWithin(ws, 'message')
    ws.send(text)
    const [data] = await echoed as [RawData]
    assert.equal(String(data), text)
    const atProxy = proxy.clientSockets[0]
    // Compressed on the wire both ways: the proxy moved a small fraction of the text's size.
    assert.ok(atProxy.bytesRead < text.length / 10, `client sent ${atProxy.bytesRead} bytes for ${text.length}`)
    assert.ok(atProxy.bytesWritten < text.length / 10, `client got ${atProxy.bytesWritten} bytes for ${text.length}`)
  } finally {
    await closeWs(ws)
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})
