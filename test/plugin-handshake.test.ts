import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { WebSocket } from 'ws'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { acceptFor, headerValues, requestHead, SAMPLE_KEY } from './helpers/raw-http.js'
import { withRawTunnel } from './helpers/raw-tunnel.js'
import { closeWs, connectWs } from './helpers/ws-clients.js'

// Handshake lines R1, R4-R6: what crosses the proxy at a successful 101. Raw
// sockets are used wherever the exact bytes matter (header order, case,
// duplicates); real `ws` clients where behaviour is the point. Refusals are
// in plugin-handshake-refusals.test.ts.

/** Values of the rawHeaders entries named `name` (lower-case), in wire order, duplicates kept. */
function rawValues (req: IncomingMessage, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === name) out.push(req.rawHeaders[i + 1])
  }
  return out
}

test('R1 a 101 from the upstream joins client and upstream in a tunnel: messages echo both ways for several clients', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture()
  try {
    const clients: WebSocket[] = []
    for (const result of await Promise.all([1, 2, 3].map(async () => await connectWs(proxy.wsUrl)))) {
      assert.ok(result instanceof WebSocket, `a client got ${String(result)} instead of a 101`)
      clients.push(result)
    }
    for (const [i, ws] of clients.entries()) {
      for (let n = 0; n < 5; n++) {
        const reply: Promise<unknown[]> = once(ws, 'message')
        ws.send(`client ${i} message ${n}`)
        assert.equal(String((await reply)[0]), `client ${i} message ${n}`)
      }
    }
    assert.equal(proxy.backends[0].upgrades.length, 3)
    for (const ws of clients) await closeWs(ws)
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R4 the client 101 carries the upstream Upgrade, Sec-WebSocket-Accept/-Protocol/-Extensions, Set-Cookie and custom headers, one Connection: upgrade', async () => {
  await withRawTunnel({
    proxy: {
      backends: [{ name: 'r4', wsOptions: { perMessageDeflate: true, handleProtocols: () => 'chat.v1' } }]
    }
  }, async ({ proxy, client }) => {
    proxy.backends[0].wss.on('headers', (headers: string[]) => {
      headers.push('Set-Cookie: sid=abc; HttpOnly', 'Set-Cookie: theme=dark', 'X-Custom-Header: Kept-As-Sent')
    })
    client.write(requestHead({
      headers: ['Sec-WebSocket-Protocol: chat.v2, chat.v1', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits']
    }))
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    assert.deepEqual(headerValues(head, 'upgrade'), ['websocket'])
    assert.deepEqual(headerValues(head, 'sec-websocket-accept'), [acceptFor(SAMPLE_KEY)])
    assert.deepEqual(headerValues(head, 'sec-websocket-protocol'), ['chat.v1'])
    const extensions = headerValues(head, 'sec-websocket-extensions')
    assert.equal(extensions.length, 1)
    assert.match(extensions[0], /^permessage-deflate/)
    assert.deepEqual(headerValues(head, 'set-cookie'), ['sid=abc; HttpOnly', 'theme=dark'])
    assert.deepEqual(headerValues(head, 'x-custom-header'), ['Kept-As-Sent'])
    assert.deepEqual(headerValues(head, 'x-backend'), ['r4'])
    assert.deepEqual(headerValues(head, 'connection'), ['upgrade'])
  })
})

test('R4 R6 hop-by-hop headers of the upstream 101 are dropped; end-to-end ones keep their order and case', async () => {
  await withRawTunnel({
    answer: ({ socket, headers }) => {
      socket.write([
        'HTTP/1.1 101 Switching Protocols',
        'X-First: 1',
        'Upgrade: websocket',
        'Connection: Upgrade, X-Hop-Secret',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'X-Hop-Secret: hidden',
        `Sec-WebSocket-Accept: ${acceptFor(headers['sec-websocket-key'])}`,
        'x-Mixed-CASE: Value',
        '', ''
      ].join('\r\n'))
    }
  }, async ({ client }) => {
    client.write(requestHead())
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    assert.deepEqual(head.headers, [
      ['X-First', '1'],
      ['Upgrade', 'websocket'],
      ['Sec-WebSocket-Accept', acceptFor(SAMPLE_KEY)],
      ['x-Mixed-CASE', 'Value'],
      ['Connection', 'upgrade']
    ])
  })
})

test('R5 the upstream gets HTTP/1.1 with the client Upgrade value, Connection: upgrade and the whole Sec-WebSocket-* offer unchanged', async () => {
  await withRawTunnel({ proxy: { backends: [{ name: 'r5', wsOptions: { handleProtocols: () => 'superchat' } }] } }, async ({ proxy, client }) => {
    const key = 'AAECAwQFBgcICQoLDA0ODw=='
    const extensions = 'permessage-deflate; client_max_window_bits; server_no_context_takeover, x-unknown-ext; level=3'
    client.write(requestHead({
      path: '/ws?room=blue&x=%20',
      bare: true,
      headers: [
        'Upgrade: WebSocket',
        'Connection: keep-alive, Upgrade',
        `Sec-WebSocket-Key: ${key}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: chat.v2, chat.v1',
        `Sec-WebSocket-Extensions: ${extensions}`,
        'Sec-WebSocket-Protocol: superchat',
        'Origin: http://app.example'
      ]
    }))
    const head = await client.head()
    assert.equal(head.statusCode, 101)
    assert.deepEqual(headerValues(head, 'sec-websocket-accept'), [acceptFor(key)])
    const seen = proxy.backends[0].upgrades[0]
    assert.equal(seen.httpVersion, '1.1')
    assert.equal(seen.method, 'GET')
    assert.equal(seen.url, '/ws?room=blue&x=%20')
    assert.deepEqual(rawValues(seen, 'upgrade'), ['WebSocket'])
    assert.deepEqual(rawValues(seen, 'connection'), ['upgrade'])
    assert.deepEqual(rawValues(seen, 'sec-websocket-key'), [key])
    assert.deepEqual(rawValues(seen, 'sec-websocket-version'), ['13'])
    assert.deepEqual(rawValues(seen, 'sec-websocket-protocol'), ['chat.v2, chat.v1', 'superchat'])
    assert.deepEqual(rawValues(seen, 'sec-websocket-extensions'), [extensions])
    assert.deepEqual(rawValues(seen, 'origin'), ['http://app.example'])
  })
})

test('R6 Keep-Alive, Proxy-Connection, TE, Trailer and headers named in Connection are not forwarded on an upgrade', async () => {
  await withRawTunnel({}, async ({ proxy, client }) => {
    client.write(requestHead({
      bare: true,
      headers: [
        'Upgrade: websocket',
        'Connection: Upgrade, X-Hop-Secret, x-other-hop',
        `Sec-WebSocket-Key: ${SAMPLE_KEY}`,
        'Sec-WebSocket-Version: 13',
        'Keep-Alive: timeout=5, max=100',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-Checksum',
        // (An upgrade with Transfer-Encoding announces a body and is refused: R83.)
        'X-Hop-Secret: do not pass',
        'X-Other-Hop: nor this',
        'Forwarded: for=192.0.2.60;proto=http',
        'X-End-To-End: passes'
      ]
    }))
    assert.equal((await client.head()).statusCode, 101)
    const seen = proxy.backends[0].upgrades[0]
    const names = new Set<string>()
    for (let i = 0; i < seen.rawHeaders.length; i += 2) names.add(seen.rawHeaders[i].toLowerCase())
    for (const hop of ['keep-alive', 'proxy-connection', 'te', 'trailer', 'x-hop-secret', 'x-other-hop', 'transfer-encoding']) {
      assert.ok(!names.has(hop), `${hop} reached the upstream`)
    }
    assert.deepEqual(rawValues(seen, 'connection'), ['upgrade'])
    assert.deepEqual(rawValues(seen, 'x-end-to-end'), ['passes'])
    assert.deepEqual(rawValues(seen, 'forwarded'), ['for=192.0.2.60;proto=http'])
  })
})
