import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveOptions } from '../plugin/index.js'
import { startRawBackend, type RawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy } from './helpers/plugin-harness.js'
import { headerValues, RawClient, requestHead, SAMPLE_KEY, switchingHead } from './helpers/raw-http.js'

// Edge hardening, failure 5: any Upgrade value was tunnelled once the
// upstream said 101, so "Upgrade: h2c" got a raw HTTP/2 connection to the
// upstream past route paths and hooks (every later request on it is invisible
// to the proxy). Only WebSocket is tunnelled unless a route opts in.

const H2C_REQUEST = ['Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', 'Connection: Upgrade, HTTP2-Settings']

/** An upstream that agrees to anything: h2c (then echoes raw bytes), WebSocket, or a plain 200 saying which Upgrade it saw. */
async function startAgreeableUpstream (): Promise<RawBackend> {
  return await startRawBackend((exchange: RawExchange) => {
    const { socket, headers } = exchange
    const upgrade = headers.upgrade ?? ''
    if (upgrade.toLowerCase() === 'h2c') {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n')
      socket.on('data', (chunk: Buffer) => socket.write(chunk))
    } else if (upgrade.toLowerCase() === 'websocket') {
      socket.write(switchingHead(headers['sec-websocket-key'] ?? ''))
    } else {
      const body = JSON.stringify({ upgrade: headers.upgrade ?? null, settings: headers['http2-settings'] ?? null })
      socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    }
  })
}

async function withSmugglingSetup (run: (port: number, upstream: RawBackend, logs: Array<Record<string, unknown>>) => Promise<void>): Promise<void> {
  const baseline = openFdCount()
  const upstream = await startAgreeableUpstream()
  const proxy = await startProxy({
    upstreams: { app: { servers: [upstream.url] } },
    routes: [
      { path: '/ws', upstream: 'app' },
      { path: '/web/*', upstream: 'app', http: true },
      { path: '/h2', upstream: 'app', upgradeProtocols: ['websocket', 'h2c'] }
    ]
  })
  try {
    await run(proxy.port, upstream, proxy.logs)
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
}

test('R81 an h2c upgrade to a WebSocket route is handled as a plain request (426 there) and never reaches the upstream', async () => {
  await withSmugglingSetup(async (port, upstream, logs) => {
    const client = await RawClient.open(port)
    try {
      client.write(requestHead({ path: '/ws', bare: true, headers: H2C_REQUEST }))
      const head = await client.head()
      assert.equal(head.statusCode, 426)
      assert.deepEqual(headerValues(head, 'upgrade'), ['websocket'], 'the route says what it accepts')
      await client.untilClosed()
    } finally {
      await client.destroy()
    }
    assert.equal(upstream.connections(), 0, 'no upstream connection for the smuggling attempt')
    const line = logs.find(entry => String(entry.msg).includes('handled as a plain request'))
    assert.equal(line?.upgrade, 'h2c')
  })
})

test('R81 an h2c upgrade to a route with http: true is proxied as plain HTTP, without Upgrade or HTTP2-Settings', async () => {
  await withSmugglingSetup(async (port, upstream) => {
    const client = await RawClient.open(port)
    try {
      client.write(requestHead({ path: '/web/page', bare: true, headers: H2C_REQUEST }))
      const head = await client.head()
      assert.equal(head.statusCode, 200)
      await client.untilClosed()
      const body = client.received.subarray(head.length).toString()
      assert.deepEqual(JSON.parse(body), { upgrade: null, settings: null })
    } finally {
      await client.destroy()
    }
    assert.ok(!upstream.exchanges[0].head.toLowerCase().includes('upgrade: h2c'))
  })
})

test('R81 a route that lists h2c in upgradeProtocols tunnels it; an offer of websocket and h2c on a WebSocket route reaches the upstream as websocket only', async () => {
  await withSmugglingSetup(async (port, upstream) => {
    const h2 = await RawClient.open(port)
    try {
      h2.write(requestHead({ path: '/h2', bare: true, headers: H2C_REQUEST }))
      const head = await h2.head()
      assert.equal(head.statusCode, 101)
      assert.deepEqual(headerValues(head, 'upgrade'), ['h2c'])
      h2.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
      await h2.waitFor(bytes => bytes.subarray(head.length).toString().includes('SM\r\n\r\n'), 'the preface echoed through the tunnel')
    } finally {
      await h2.destroy()
    }
    const both = await RawClient.open(port)
    try {
      both.write(requestHead({ path: '/ws', bare: true, headers: ['Upgrade: websocket, h2c', 'Connection: Upgrade', `Sec-WebSocket-Key: ${SAMPLE_KEY}`, 'Sec-WebSocket-Version: 13'] }))
      assert.equal((await both.head()).statusCode, 101)
      assert.match(upstream.exchanges[1].head, /\r\nUpgrade: websocket\r\n/)
    } finally {
      await both.destroy()
    }
  })
})

test('R81 upgradeProtocols is validated: a non-empty list of protocol tokens, each once', () => {
  const route = (upgradeProtocols: unknown): unknown => ({ upstreams: { a: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'a', upgradeProtocols }] })
  assert.throws(() => resolveOptions(route([])), /routes\[0\]\.upgradeProtocols: got \[\]; allowed: a non-empty array of protocol names/)
  assert.throws(() => resolveOptions(route(['h2 c'])), /routes\[0\]\.upgradeProtocols\[0\]: got "h2 c"; allowed: a protocol name/)
  assert.throws(() => resolveOptions(route(['websocket', 'WebSocket'])), /upgradeProtocols\[1\]: got "WebSocket"; allowed: each protocol once/)
  assert.deepEqual(resolveOptions(route(['WebSocket', 'h2c'])).routes[0].upgradeProtocols, ['websocket', 'h2c'])
})
