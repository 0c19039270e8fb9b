import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import { startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { rawExchange, refusal, startProxy, statusOf, upgradeHead } from './helpers/plugin-harness.js'
import { serverFrame, switchingHead } from './helpers/raw-http.js'
import { withRelay } from './helpers/relay-fixture.js'
import { closeWs, echoOnce, openWs, until } from './helpers/ws-clients.js'

// Relay lines R67-R68: the upstream is asked first, and the client's 101
// says what the upstream chose; refusals and failures are answered exactly
// as in tunnel mode.

/** A port nothing listens on: connecting to it is refused at once. */
async function deadPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

test('R67 a client offering two subprotocols to an upstream that takes only the second gets a 101 with the second; identity headers and Set-Cookie cross', async () => {
  await withRelay({
    backends: [{ name: 'r160', wsOptions: { handleProtocols: (offer) => offer.has('chat.v2') ? 'chat.v2' : false } }]
  }, async ({ url, backends }) => {
    backends[0].wss.on('headers', (headers: string[]) => { headers.push('Set-Cookie: sid=abc; HttpOnly', 'X-Custom: kept') })
    let answer: IncomingMessage | null = null
    const ws = new WebSocket(url, ['chat.v1', 'chat.v2'], { headers: { 'X-Forwarded-For': '203.0.113.9' } })
    ws.once('upgrade', (res: IncomingMessage) => { answer = res })
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    try {
      assert.equal(ws.protocol, 'chat.v2')
      const upgrade = backends[0].upgrades[0]
      assert.deepEqual(String(upgrade.headers['sec-websocket-protocol']).split(/, */), ['chat.v1', 'chat.v2'], 'the upstream saw the whole offer, in order')
      assert.equal(upgrade.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1')
      assert.equal(upgrade.headers['x-real-ip'], '127.0.0.1')
      assert.equal(upgrade.headers['x-forwarded-proto'], 'http')
      assert.match(String(upgrade.headers.host), /^127\.0\.0\.1:\d+$/)
      const headers = (answer as IncomingMessage | null)?.headers ?? {}
      assert.deepEqual(headers['set-cookie'], ['sid=abc; HttpOnly'])
      assert.equal(headers['x-custom'], 'kept')
      assert.equal(headers['sec-websocket-protocol'], 'chat.v2')
      assert.equal(await echoOnce(ws, 'through the relay'), 'through the relay')
    } finally {
      await closeWs(ws)
    }
  })
})

test('R67 an upstream answering 403 reaches the client as that 403, body and headers included', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket }) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: not-you\r\nContent-Length: 6\r\n\r\ndenied')
  })
  const proxy = await startProxy({ upstreams: { a: { servers: [upstream.url] } }, routes: [{ path: '/ws', upstream: 'a', mode: 'relay' }] })
  try {
    const { status, body } = await refusal(`${proxy.wsBase}/ws`)
    assert.equal(status, 403)
    assert.equal(body, 'denied')
    const raw = await rawExchange(proxy.port, upgradeHead('/ws'))
    assert.equal(statusOf(raw), 403)
    assert.match(raw, /\r\nX-Reason: not-you\r\n/)
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R67 a server that refuses the connection is a failure of that server and the next one is tried, as in tunnel mode', async () => {
  const dead = `http://127.0.0.1:${await deadPort()}`
  await withRelay({ extraServers: [dead] }, async ({ url, proxy }) => {
    const ws = await openWs(url)
    try {
      assert.equal(await echoOnce(ws, 'second server'), 'second server')
      const servers = proxy.app.wsProxy.stats().upstreams.main.servers
      assert.equal(servers.find(s => s.url === dead)?.failures, 1)
    } finally {
      await closeWs(ws)
    }
  })
})

test('R67 bytes the upstream sends in the same packet as its 101 reach the client as a message', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    socket.write(Buffer.concat([Buffer.from(switchingHead(headers['sec-websocket-key']), 'latin1'), serverFrame(1, Buffer.from('hello with the 101'))]))
  })
  const proxy = await startProxy({ upstreams: { a: { servers: [upstream.url] } }, routes: [{ path: '/ws', upstream: 'a', mode: 'relay' }], shutdownTimeout: 200 })
  const ws = new WebSocket(`${proxy.wsBase}/ws`)
  const messages: string[] = []
  ws.on('message', (data) => messages.push(String(data)))
  try {
    await until(() => messages.length === 1, 'the message sent with the 101')
    assert.deepEqual(messages, ['hello with the 101'])
  } finally {
    ws.terminate()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R68 R81 a relay route refuses, before any upstream connection, an upgrade that is not WebSocket (426, handled as a plain request) or whose subprotocol offer cannot be repeated (400)', async () => {
  await withRelay({}, async ({ proxy, backends }) => {
    const h2c = ['GET /ws HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', '', ''].join('\r\n')
    // R81: only `websocket` is an upgrade here; anything else is a plain request, which a WebSocket-only route answers 426.
    assert.equal(statusOf(await rawExchange(proxy.port, h2c)), 426)
    assert.equal(statusOf(await rawExchange(proxy.port, upgradeHead('/ws', ['Sec-WebSocket-Protocol: chat, chat']))), 400)
    assert.equal(statusOf(await rawExchange(proxy.port, upgradeHead('/ws', ['Sec-WebSocket-Protocol: a b']))), 400)
    assert.equal(backends[0].connections(), 0)
    assert.equal(proxy.app.wsProxy.stats().routes['/ws'].failed, 2)
  })
})

test('R68 an upstream 101 that ws cannot accept (wrong Sec-WebSocket-Accept, a subprotocol nobody offered) becomes 502', async () => {
  const baseline = openFdCount()
  const upstream = await startRawBackend(({ socket, headers }) => {
    if (headers['x-case'] === 'accept') socket.write(switchingHead('AAAAAAAAAAAAAAAAAAAAAA=='))
    else socket.write(switchingHead(headers['sec-websocket-key']).replace('\r\n\r\n', '\r\nSec-WebSocket-Protocol: other\r\n\r\n'))
  })
  const proxy = await startProxy({ upstreams: { a: { servers: [upstream.url] } }, routes: [{ path: '/ws', upstream: 'a', mode: 'relay' }] })
  try {
    assert.equal((await refusal(`${proxy.wsBase}/ws`, { headers: { 'X-Case': 'accept' } })).status, 502)
    assert.equal((await refusal(`${proxy.wsBase}/ws`, { headers: { 'X-Case': 'protocol' } })).status, 502)
  } finally {
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})

test('R67 route headers and upstreamPath apply to a relay upgrade as to a tunnel: the upstream sees the rewritten path and the set header', async () => {
  await withRelay({ route: { upstreamPath: '/socket', headers: { set: { 'X-Tenant': 'tenant-$http_x_tenant_id' } } } }, async ({ url, backends }) => {
    const ws = new WebSocket(`${url}?room=7`, { headers: { 'X-Tenant-Id': 'acme' } })
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    try {
      assert.equal(backends[0].upgrades[0].url, '/socket?room=7')
      assert.equal(backends[0].upgrades[0].headers['x-tenant'], 'tenant-acme')
      assert.equal(await echoOnce(ws, 'rewritten path'), 'rewritten path')
    } finally {
      await closeWs(ws)
    }
  })
})
