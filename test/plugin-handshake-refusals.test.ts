import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startRawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { acceptFor, clientFrame, exchange, headerValues, parseResponse, requestHead, SAMPLE_KEY } from './helpers/raw-http.js'
import { connectWs } from './helpers/ws-clients.js'

// Handshake lines R2, R3, R7, R8: every way an upgrade ends without a tunnel.
// Refusals the proxy makes itself must cost no upstream connection;
// refusals the upstream makes reach the client as sent.

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
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds(upstream.heldOpen)
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
  /** No length: the body ends when the upstream closes. */
  closeDelimited?: boolean
  /** Bytes the upstream sends after the complete answer, in the same packet. */
  after?: string
}

const REFUSALS: Refusal[] = [
  { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain'], ['X-Upstream', 'plain']], body: 'no websocket here' },
  {
    status: 401,
    reason: 'Unauthorized',
    headers: [['WWW-Authenticate', 'Bearer realm="chat"'], ['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2'], ['X-Trace', 'T-1']],
    body: '{"error":"log in first"}'
  },
  {
    status: 403,
    reason: 'Forbidden',
    headers: [['Content-Type', 'application/json'], ['x-lower-case', 'kept as is']],
    body: '{"error":"forbidden"}',
    // An upstream that switched anyway after refusing: those bytes are not part of the answer.
    after: '\x81\x05hello'
  },
  { status: 426, reason: 'Upgrade Required', headers: [['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13']], body: 'version 13 only' },
  { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '5'], ['Content-Type', 'text/plain']], body: 'busy, '.repeat(500), chunked: true },
  { status: 500, reason: 'Internal Server Error', headers: [['Content-Type', 'text/plain']], body: 'ends when the upstream closes', closeDelimited: true }
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
  } else if (refusal.closeDelimited === true) {
    socket.end(`${head}\r\n${refusal.body}`)
  } else {
    socket.end(head + `Content-Length: ${Buffer.byteLength(refusal.body)}\r\n\r\n${refusal.body}${refusal.after ?? ''}`)
  }
}

test('R3 upstream answers 200/401/403/426/503/500 (length, chunked or close-delimited bodies) reach the client verbatim and nothing is tunneled', async () => {
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
      if (refusal.chunked !== true && refusal.closeDelimited !== true) assert.deepEqual(headerValues(head, 'content-length'), [String(Buffer.byteLength(refusal.body))])
      assert.equal(body.toString('latin1'), refusal.body, `body of the ${refusal.status}`)

      const seen = upstream.exchanges[i]
      assert.match(seen.head, new RegExp(`^X-Case: ${refusal.status}$`, 'm'))
      assert.equal(Buffer.concat(seen.received).length, 0, 'no client byte reached the upstream after its refusal')
    }
    // A real ws client sees the same refusals as handshake failures.
    for (const refusal of REFUSALS) {
      const result = await connectWs(proxy.wsUrl, [], { headers: { 'X-Case': String(refusal.status) } })
      assert.equal(result, refusal.status)
    }
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds(upstream.heldOpen)
  } finally {
    await proxy.close()
    await upstream.close()
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
    assert.equal(await connectWs(proxy.wsUrl, [], { protocolVersion: 8 }), 426)
    assert.equal(proxy.backends[0].connections(), 0, 'no upstream connection for a refused handshake')
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
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
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})
/** 101 answers that do not switch to what the client asked for, by the X-Case of the request. */
const BAD_SWITCHES: Record<string, (key: string) => string[]> = {
  'wrong accept': () => ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor('not the client key')}`],
  'no accept': () => ['Upgrade: websocket', 'Connection: Upgrade'],
  'another protocol': (key) => ['Upgrade: h2c', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
  // Without Upgrade the answer does not even parse as a switch; it must not be relayed as one either (R2 on the upgrade path).
  'no Upgrade header': (key) => ['Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
  'no Connection: upgrade': (key) => ['Upgrade: websocket', `Sec-WebSocket-Accept: ${acceptFor(key)}`]
}

test('R8 an upstream 101 with a wrong or missing Sec-WebSocket-Accept, another protocol, no Upgrade or no Connection: upgrade becomes 502', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    const lines = BAD_SWITCHES[headers['x-case']](headers['sec-websocket-key'])
    socket.write(['HTTP/1.1 101 Switching Protocols', ...lines, '', ''].join('\r\n'))
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url] })
  try {
    const got: Record<string, number> = {}
    for (const which of Object.keys(BAD_SWITCHES)) {
      const { head } = parseResponse(await exchange(proxy.port, requestHead({ headers: [`X-Case: ${which}`] })))
      got[which] = head.statusCode
    }
    assert.deepEqual(got, Object.fromEntries(Object.keys(BAD_SWITCHES).map(which => [which, 502])))
    assert.equal(await connectWs(proxy.wsUrl, [], { headers: { 'X-Case': 'wrong accept' } }), 502)
    assert.equal(upstream.exchanges.length, Object.keys(BAD_SWITCHES).length + 1)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds(upstream.heldOpen)
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
