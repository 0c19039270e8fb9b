import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { WebSocket } from 'ws'
import { wsProxyClientErrorHandler } from '../plugin/index.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  closeWs, echo, openWs, rawExchange, refusal, startProxy, statusOf, upgradeHead, waitFor
} from './helpers/plugin-harness.js'

test('R34 maxConnections reached: new handshakes get 503, open tunnels keep working, a closed one frees its slot', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'b' }],
    limits: { maxConnections: 2 }
  })
  const open: WebSocket[] = []
  try {
    open.push(await openWs(`${proxy.wsBase}/ws`), await openWs(`${proxy.wsBase}/ws`))
    const refused = await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.2' })
    assert.equal(refused.status, 503)
    // R80: the client gets the code; which limit and its value are for the log.
    assert.match(refused.body, /WS_CLUSTER_CONNECTION_LIMIT/)
    assert.ok(proxy.logs.some(line => String(line.reason).includes('maxConnections (2)')), 'the log names the limit')
    assert.equal(backend.upgrades.length, 2, 'the refused handshake cost no upstream connection')
    for (const [i, ws] of open.entries()) assert.equal(await echo(ws, `still ${i}`), `still ${i}`)
    assert.equal(proxy.app.wsProxy.stats().connections.refused, 1)

    await closeWs(open.shift() as WebSocket)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 1, 'slot released')
    open.push(await openWs(`${proxy.wsBase}/ws`))
    assert.equal(await echo(open[1], 'third'), 'third')
  } finally {
    for (const ws of open) await closeWs(ws)
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R35 maxConnectionsPerIp: 503 for that address only; a tunnel holds its slot until it closes', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'b' }],
    limits: { maxConnectionsPerIp: 1 }
  })
  const open: WebSocket[] = []
  try {
    const first = await openWs(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.1' })
    open.push(first)
    assert.equal((await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.1' })).status, 503)
    const other = await openWs(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.3' })
    open.push(other)
    assert.equal(await echo(other, 'other address'), 'other address')
    // Traffic does not release the slot; only closing does.
    assert.equal(await echo(first, 'busy'), 'busy')
    assert.equal((await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.1' })).status, 503)
    await closeWs(first)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 1, 'slot released')
    open.push(await openWs(`${proxy.wsBase}/ws`, { localAddress: '127.0.0.1' }))
  } finally {
    for (const ws of open) await closeWs(ws)
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

const UPGRADE_TAIL = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', '']

/** An upgrade request with a chosen request line and headers. */
function upgradeWith (requestLine: string, headers: string[]): string {
  return [requestLine, ...headers, ...UPGRADE_TAIL].join('\r\n')
}

async function limitedProxy (backendUrl: string): Promise<Awaited<ReturnType<typeof startProxy>>> {
  return await startProxy({
    upstreams: { b: { servers: [backendUrl] } },
    routes: [{ path: '/ws', upstream: 'b' }, { path: '/io/*', upstream: 'b', http: true }],
    limits: { maxUrlLength: 256 }
  }, { fastify: { http: { maxHeaderSize: 2048 }, clientErrorHandler: wsProxyClientErrorHandler } })
}

test('R36 a request head over maxHeaderSize gets 431; a request target over maxUrlLength gets 414', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await limitedProxy(backend.url)
  try {
    const big = upgradeHead('/ws', ['X-Big: ' + 'x'.repeat(4096)])
    assert.equal(statusOf(await rawExchange(proxy.port, big)), 431)
    assert.equal(statusOf(await rawExchange(proxy.port, 'GET /io/a HTTP/1.1\r\nHost: a\r\nX-Big: ' + 'x'.repeat(4096) + '\r\n\r\n')), 431)
    const longTarget = '/ws?' + 'q'.repeat(400)
    assert.equal(statusOf(await rawExchange(proxy.port, upgradeHead(longTarget))), 414)
    assert.equal(statusOf(await rawExchange(proxy.port, `GET ${longTarget} HTTP/1.1\r\nHost: a\r\n\r\n`)), 414)
    assert.equal(statusOf(await rawExchange(proxy.port, `GET /io/${'p'.repeat(400)} HTTP/1.1\r\nHost: a\r\n\r\n`)), 414)
    // Just under both limits still works.
    const ok = await openWs(`${proxy.wsBase}/ws?${'q'.repeat(200)}`, { headers: { 'x-big': 'x'.repeat(1024) } })
    await closeWs(ok)
    assert.equal(backend.upgrades.length, 1, 'no refused request reached the upstream')
    assert.equal(backend.requests.length, 0)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R37 malformed requests get 400 and unsupported HTTP versions 505, as upgrades and as plain requests', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await limitedProxy(backend.url)
  try {
    const cases: Array<[string, string, number]> = [
      ['bad method token', upgradeWith('G@T /ws HTTP/1.1', ['Host: a']), 400],
      ['HTTP/1.1 without Host', upgradeWith('GET /ws HTTP/1.1', []), 400],
      ['two Host headers', upgradeWith('GET /ws HTTP/1.1', ['Host: a', 'Host: b']), 400],
      ['Content-Length with Transfer-Encoding', upgradeWith('GET /ws HTTP/1.1', ['Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked']), 400],
      ['invalid header name', upgradeWith('GET /ws HTTP/1.1', ['Host: a', 'Bad Header: x']), 400],
      ['HTTP/1.2', upgradeWith('GET /ws HTTP/1.2', ['Host: a']), 505],
      ['HTTP/2.0 in an HTTP/1 request line', upgradeWith('GET /ws HTTP/2.0', ['Host: a']), 505],
      ['plain: bad method token', 'G{T /io/a HTTP/1.1\r\nHost: a\r\n\r\n', 400],
      ['plain: HTTP/1.1 without Host', 'GET /io/a HTTP/1.1\r\n\r\n', 400],
      ['plain: two Host headers', 'GET /io/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
      ['plain: two Host headers on a ws-only route', 'GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
      ['plain: Content-Length with Transfer-Encoding', 'POST /io/a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['plain: invalid header name', 'GET /io/a HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n', 400],
      ['plain: HTTP/2.0', 'GET /io/a HTTP/2.0\r\nHost: a\r\n\r\n', 505],
      ['plain: HTTP/3.1', 'GET /io/a HTTP/3.1\r\nHost: a\r\n\r\n', 505]
    ]
    for (const [name, bytes, status] of cases) {
      const answer = await rawExchange(proxy.port, bytes)
      assert.equal(statusOf(answer), status, `${name}: ${JSON.stringify(answer.slice(0, 60))}`)
    }
    assert.equal(backend.upgrades.length + backend.requests.length, 0, 'no malformed request reached the upstream')
    // HTTP/1.0 needs no Host: the same upgrade without one is accepted.
    assert.equal(statusOf(await rawExchange(proxy.port, upgradeWith('GET /ws HTTP/1.0', []), 1000)), 101)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
