import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startRawBackend, type RawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, openWs, startProxy, waitFor, type ProxyUnderTest } from './helpers/plugin-harness.js'
import { RawClient, requestHead, switchingHead } from './helpers/raw-http.js'

// Edge hardening, failure 7: an upgrade carrying a body had its
// Content-Length forwarded while the body itself was held back until the 101.
// An upstream that reads bodies first then waited for handshakeTimeout, each
// server tried counted a failure, and with maxFails 1 one request every
// failTimeout marked the whole group dead for everybody.

/** A WebSocket upstream that reads a request's body (Content-Length bytes) before it answers, after `delayMs`. */
async function startBodyReadingUpstream (delayMs = 0): Promise<RawBackend> {
  return await startRawBackend((exchange: RawExchange) => {
    const length = Number(exchange.headers['content-length'] ?? 0)
    const answer = (): void => {
      if (exchange.byteCount < length) return
      exchange.socket.removeListener('data', answer)
      setTimeout(() => { if (!exchange.socket.destroyed) exchange.socket.write(switchingHead(exchange.headers['sec-websocket-key'] ?? '')) }, delayMs)
    }
    exchange.socket.on('data', answer)
    answer()
  })
}

async function withGroup (delayMs: number, run: (proxy: ProxyUnderTest, upstreams: RawBackend[]) => Promise<void>): Promise<void> {
  const baseline = openFdCount()
  const upstreams = [await startBodyReadingUpstream(delayMs), await startBodyReadingUpstream(delayMs)]
  const proxy = await startProxy({
    upstreams: { pair: { servers: upstreams.map(u => ({ url: u.url, maxFails: 1, failTimeout: '10s' })) } },
    routes: [{ path: '/ws', upstream: 'pair', handshakeTimeout: delayMs + 300 }]
  })
  try {
    await run(proxy, upstreams)
  } finally {
    await proxy.close()
    for (const upstream of upstreams) await upstream.close()
  }
  await assertNoFdLeak(baseline)
}

async function statusFor (port: number, bytes: string): Promise<{ status: number, body: string }> {
  const client = await RawClient.open(port)
  try {
    client.write(bytes)
    const head = await client.head()
    await client.untilClosed(7000)
    return { status: head.statusCode, body: client.received.subarray(head.length).toString() }
  } finally {
    await client.destroy()
  }
}

test('R83 upgrades with a body (Content-Length or Transfer-Encoding) get 400 before any upstream is asked, and the group stays healthy', async () => {
  await withGroup(0, async (proxy, upstreams) => {
    const withLength = requestHead({ path: '/ws', headers: ['Content-Length: 5'] }) + 'hello'
    const chunked = requestHead({ path: '/ws', headers: ['Transfer-Encoding: chunked'] }) + '5\r\nhello\r\n0\r\n\r\n'
    for (const bytes of [withLength, chunked, withLength]) {
      const answer = await statusFor(proxy.port, bytes)
      assert.equal(answer.status, 400)
      assert.equal((JSON.parse(answer.body) as { code: string }).code, 'WS_CLUSTER_BAD_HANDSHAKE')
    }
    assert.equal(upstreams[0].connections() + upstreams[1].connections(), 0, 'no upstream was asked')
    const servers = proxy.app.wsProxy.stats().upstreams.pair.servers
    assert.deepEqual(servers.map(s => [s.state, s.failures]), [['up', 0], ['up', 0]])
    const ws = await openWs(`${proxy.wsBase}/ws`, { headers: { 'Content-Length': '0' } })
    assert.equal(ws.readyState, ws.OPEN, 'an upgrade with Content-Length: 0 carries no body and is served')
    await closeWs(ws)
  })
})

test('R83 clients that leave (reset or FIN) while the upstream is deciding are never counted as failures of that upstream', async () => {
  await withGroup(600, async (proxy, upstreams) => {
    for (let i = 0; i < 4; i++) {
      const client = await RawClient.open(proxy.port, { allowHalfOpen: true })
      client.write(requestHead({ path: '/ws' }))
      await waitFor(() => upstreams[0].exchanges.length + upstreams[1].exchanges.length > i, 'the upstream asked')
      if (i % 2 === 0) await client.destroy()
      else client.socket.end()
      await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 0, 'the attempt dropped')
      await client.destroy()
    }
    const servers = proxy.app.wsProxy.stats().upstreams.pair.servers
    assert.deepEqual(servers.map(s => [s.state, s.failures]), [['up', 0], ['up', 0]])
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(ws.readyState, ws.OPEN, 'the group still serves')
    await closeWs(ws)
  })
})
