import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions } from 'ws'
import { startRawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import {
  acceptFor, clientFrame, exchange, headerValues, parseResponse, RawClient, requestHead, SAMPLE_KEY
} from './helpers/raw-http.js'

// Handshake lines R1-R8: what crosses the proxy before and at the 101. Raw
// sockets are used wherever the exact bytes matter (header order, case,
// duplicates); real `ws` clients where behaviour is the point.

/** Pairs of a rawHeaders array whose name is `name` (case-insensitive), values in order. */
function rawValues (req: IncomingMessage, name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === name) out.push(req.rawHeaders[i + 1])
  }
  return out
}

/** Opens a ws client; resolves with it, or with the status of a refused handshake. */
async function connectWs (url: string, options: ClientOptions = {}): Promise<WebSocket | number> {
  const ws = new WebSocket(url, options)
  ws.on('error', () => {})
  return await new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    ws.once('error', reject)
  })
}

async function closeWs (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  const closed = once(ws, 'close')
  ws.close(1000)
  await closed
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

test('R2 a plain GET on an http route whose upstream answers 101 gets 502, not a tunnel', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket }) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: something\r\nConnection: Upgrade\r\n\r\n')
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url], route: { http: true } })
  try {
    const answer = await exchange(proxy.port, requestHead({ bare: true, headers: ['Connection: close'] }))
    const { head } = parseResponse(answer)
    assert.equal(head.statusCode, 502)
    assert.equal(upstream.exchanges.length, 1, 'the plain request did reach the upstream')
    assert.doesNotMatch(upstream.exchanges[0].head, /^upgrade:/im, 'the plain request carried no Upgrade')
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

interface Refusal {
  status: number
  reason: string
  headers: Array<[string, string]>
  body: string
  chunked?: boolean
}

const REFUSALS: Refusal[] = [
  { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain'], ['X-Upstream', 'plain']], body: 'no websocket here' },
  {
    status: 401,
    reason: 'Unauthorized',
    headers: [['WWW-Authenticate', 'Bearer realm="chat"'], ['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2'], ['X-Trace', 'T-1']],
    body: '{"error":"log in first"}'
  },
  { status: 403, reason: 'Forbidden', headers: [['Content-Type', 'application/json'], ['x-lower-case', 'kept as is']], body: '{"error":"forbidden"}' },
  { status: 426, reason: 'Upgrade Required', headers: [['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13']], body: 'version 13 only' },
  { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '5'], ['Content-Type', 'text/plain']], body: 'busy, '.repeat(500), chunked: true }
]

function writeRefusal ({ socket, headers }: RawExchange): void {
  const refusal = REFUSALS.find(r => String(r.status) === headers['x-case']) as Refusal
  let head = `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\n`
  for (const [name, value] of refusal.headers) head += `${name}: ${value}\r\n`
  if (refusal.chunked === true) {
    // Two chunks in separate writes: the proxy must not depend on how they were cut.
    socket.write(head + 'Transfer-Encoding: chunked\r\n\r\n')
    const half = Math.floor(refusal.body.length / 2)
    socket.write(`${half.toString(16)}\r\n${refusal.body.slice(0, half)}\r\n`)
    const rest = refusal.body.slice(half)
    socket.end(`${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n`)
  } else {
    socket.end(head + `Content-Length: ${Buffer.byteLength(refusal.body)}\r\n\r\n${refusal.body}`)
  }
}

test('R3 upstream answers 200/401/403/426/503 (one chunked) reach the client verbatim and nothing is tunneled', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(writeRefusal)
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  try {
    for (const [i, refusal] of REFUSALS.entries()) {
      // A frame in the same write as the request: it must reach no one once the upgrade is refused.
      const bytes = Buffer.concat([
        Buffer.from(requestHead({ headers: [`X-Case: ${refusal.status}`] }), 'latin1'),
        clientFrame(1, Buffer.from('must not be tunneled'))
      ])
      const { head, body } = parseResponse(await exchange(proxy.port, bytes))
      assert.equal(head.statusCode, refusal.status)
      assert.equal(head.reason, refusal.reason)
      const endToEnd = head.headers.filter(([name]) => !/^(connection|transfer-encoding|content-length)$/i.test(name))
      assert.deepEqual(endToEnd, refusal.headers, `headers of the ${refusal.status}`)
      if (refusal.chunked !== true) assert.deepEqual(headerValues(head, 'content-length'), [String(Buffer.byteLength(refusal.body))])
      assert.equal(body.toString('latin1'), refusal.body, `body of the ${refusal.status}`)

      const seen = upstream.exchanges[i]
      assert.match(seen.head, new RegExp(`^X-Case: ${refusal.status}$`, 'm'))
      assert.equal(Buffer.concat(seen.received).length, 0, 'no client byte reached the upstream after its refusal')
    }
    // A real ws client sees the same refusals as handshake failures.
    for (const refusal of REFUSALS) {
      const result = await connectWs(proxy.wsUrl, { headers: { 'X-Case': String(refusal.status) } })
      assert.equal(result, refusal.status)
    }
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R4 the client 101 carries the upstream Upgrade, Sec-WebSocket-Accept/-Protocol/-Extensions, Set-Cookie and custom headers, one Connection: upgrade', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture({
    backends: [{ name: 'r4', wsOptions: { perMessageDeflate: true, handleProtocols: () => 'chat.v1' } }]
  })
  proxy.backends[0].wss.on('headers', (headers: string[]) => {
    headers.push('Set-Cookie: sid=abc; HttpOnly', 'Set-Cookie: theme=dark', 'X-Custom-Header: Kept-As-Sent')
  })
  const client = await RawClient.open(proxy.port)
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R4 R6 hop-by-hop headers of the upstream 101 are dropped; end-to-end ones keep their order and case', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
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
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  const client = await RawClient.open(proxy.port)
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R5 the upstream gets HTTP/1.1 with the client Upgrade value, Connection: upgrade and the whole Sec-WebSocket-* offer unchanged', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture({ backends: [{ name: 'r5', wsOptions: { handleProtocols: () => 'superchat' } }] })
  const key = 'AAECAwQFBgcICQoLDA0ODw=='
  const extensions = 'permessage-deflate; client_max_window_bits; server_no_context_takeover, x-unknown-ext; level=3'
  const client = await RawClient.open(proxy.port)
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R6 Keep-Alive, Proxy-Connection, TE, Trailer and headers named in Connection are not forwarded on an upgrade', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture()
  const client = await RawClient.open(proxy.port)
  try {
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
  } finally {
    await client.destroy()
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

const BAD_HANDSHAKES: Array<{ what: string, request: string, status: number }> = [
  {
    what: 'no Sec-WebSocket-Key',
    request: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13'] }),
    status: 400
  },
  {
    what: 'a key of 5 bytes',
    request: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: c2hvcnQ=', 'Sec-WebSocket-Version: 13'] }),
    status: 400
  },
  {
    what: 'a key that is not base64',
    request: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==', 'Sec-WebSocket-Version: 13'] }),
    status: 400
  },
  { what: 'two Upgrade headers', request: requestHead({ headers: ['Upgrade: websocket'] }), status: 400 },
  {
    what: 'no Sec-WebSocket-Version',
    request: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${SAMPLE_KEY}`] }),
    status: 426
  },
  {
    what: 'Sec-WebSocket-Version: 8',
    request: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${SAMPLE_KEY}`, 'Sec-WebSocket-Version: 8'] }),
    status: 426
  }
]

test('R7 bad handshakes get 400 (no key, bad key, two Upgrade) or 426 with Sec-WebSocket-Version: 13, and the upstream sees no connection', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture()
  try {
    // Every case is tried before asserting, so one failure does not hide the others.
    const got = []
    for (const bad of BAD_HANDSHAKES) {
      const { head } = parseResponse(await exchange(proxy.port, bad.request))
      got.push({ what: bad.what, status: head.statusCode, version: headerValues(head, 'sec-websocket-version') })
    }
    assert.deepEqual(got, BAD_HANDSHAKES.map(bad => ({ what: bad.what, status: bad.status, version: bad.status === 426 ? ['13'] : [] })))
    // The same refusal seen by a real client that speaks an older protocol version.
    assert.equal(await connectWs(proxy.wsUrl, { protocolVersion: 8 }), 426)
    assert.equal(proxy.backends[0].connections(), 0, 'no upstream connection for a refused handshake')
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R8 an upstream 101 with a wrong or missing Sec-WebSocket-Accept becomes 502', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    const accept = headers['x-case'] === 'missing' ? [] : [`Sec-WebSocket-Accept: ${acceptFor('not the client key')}`]
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', ...accept, '', ''].join('\r\n'))
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  try {
    for (const which of ['wrong', 'missing']) {
      const { head } = parseResponse(await exchange(proxy.port, requestHead({ headers: [`X-Case: ${which}`] })))
      assert.equal(head.statusCode, 502, `${which} accept`)
    }
    assert.equal(await connectWs(proxy.wsUrl, { headers: { 'X-Case': 'wrong' } }), 502)
    assert.equal(upstream.exchanges.length, 3)
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R7 a WebSocket upgrade with a method other than GET gets 400 and the upstream sees no connection', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture()
  try {
    const got = []
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const { head } = parseResponse(await exchange(proxy.port, requestHead({ method, headers: ['Content-Length: 0'] })))
      got.push({ method, status: head.statusCode })
    }
    assert.deepEqual(got, [{ method: 'POST', status: 400 }, { method: 'PUT', status: 400 }, { method: 'DELETE', status: 400 }])
    assert.equal(proxy.backends[0].connections(), 0, 'no upstream connection for a refused handshake')
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})
