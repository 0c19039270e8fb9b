import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { WebSocket } from 'ws'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, httpGet, openWs, refusal, startProxy, type ProxyUnderTest } from './helpers/plugin-harness.js'
import { acceptFor } from './helpers/raw-http.js'
import { refusedUrl, startNeverAcceptingUpstream, startSilentUpstream } from './helpers/stand-in-upstreams.js'

// Edge hardening, failure 4: a 502 body read "Could not connect to upstream
// http://10.0.0.11:3000: ECONNREFUSED", a map of the private network for
// anyone who asks. Clients now get the code and a fixed sentence; the
// address and the reason are in the log.

/** What a client-facing error body must not contain: addresses, ports, system error codes, group names, timeouts. */
function assertNothingInternal (body: string, secrets: string[]): void {
  for (const secret of [...secrets, '127.0.0.1', 'ECONNREFUSED', 'ETIMEDOUT', ' ms']) {
    assert.ok(!body.includes(secret), `the body ${body} gives away ${JSON.stringify(secret)}`)
  }
}

function portOf (url: string): string {
  return new URL(url).port
}

function logMentions (proxy: ProxyUnderTest, text: string): boolean {
  return proxy.logs.some(line => JSON.stringify(line).includes(text))
}

test('R80 upgrade failures (refused, connect timeout, handshake timeout, invalid 101, no live upstream, max conns, per-IP limit) answer the code and a fixed sentence, the detail goes to the log', async () => {
  const baseline = openFdCount()
  const refused = await refusedUrl()
  const refused2 = await refusedUrl()
  const hanging = await startNeverAcceptingUpstream()
  const silent = await startSilentUpstream()
  const wrongAccept = await startRawBackend(({ socket }) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor('not the key')}\r\n\r\n`)
  })
  const live = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: {
      'private-refused': { servers: [refused] },
      'private-pair': { servers: [refused, refused2] },
      'private-hanging': { servers: [hanging.url] },
      'private-silent': { servers: [silent.url] },
      'private-wrong': { servers: [wrongAccept.url] },
      'private-busy': { servers: [{ url: live.url, maxConns: 1 }] },
      'private-live': { servers: [live.url] }
    },
    routes: [
      { path: '/refused', upstream: 'private-refused' },
      { path: '/pair', upstream: 'private-pair' },
      { path: '/hanging', upstream: 'private-hanging', connectTimeout: '200ms' },
      { path: '/silent', upstream: 'private-silent', handshakeTimeout: '200ms' },
      { path: '/wrong', upstream: 'private-wrong' },
      { path: '/busy', upstream: 'private-busy' },
      { path: '/live', upstream: 'private-live' }
    ],
    limits: { maxConnectionsPerIp: 1 }
  })
  const held: WebSocket[] = []
  try {
    const cases: Array<{ path: string, status: number, code: string, secrets: string[] }> = [
      { path: '/refused', status: 502, code: 'WS_CLUSTER_UPSTREAM_CONNECT_FAILED', secrets: [portOf(refused), 'private-refused'] },
      { path: '/pair', status: 502, code: 'WS_CLUSTER_UPSTREAM_CONNECT_FAILED', secrets: [portOf(refused2), 'private-pair'] },
      // Both servers of the pair are now failed: nginx's "no live upstreams", without the group's name.
      { path: '/pair', status: 502, code: 'WS_CLUSTER_NO_LIVE_UPSTREAM', secrets: ['private-pair'] },
      { path: '/hanging', status: 504, code: 'WS_CLUSTER_UPSTREAM_CONNECT_TIMEOUT', secrets: [portOf(hanging.url), '200'] },
      { path: '/silent', status: 504, code: 'WS_CLUSTER_UPSTREAM_HANDSHAKE_TIMEOUT', secrets: [portOf(silent.url), '200'] },
      { path: '/wrong', status: 502, code: 'WS_CLUSTER_UPSTREAM_BAD_HANDSHAKE', secrets: [portOf(wrongAccept.url), 'Accept'] }
    ]
    for (const { path, status, code, secrets } of cases) {
      const answer = await refusal(`${proxy.wsBase}${path}`)
      assert.equal(answer.status, status, path)
      const body = JSON.parse(answer.body) as { code: string, statusCode: number, error: string, message: string }
      assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
      assert.equal(body.code, code, path)
      assertNothingInternal(answer.body, secrets)
    }
    assert.ok(logMentions(proxy, refused) && logMentions(proxy, 'ECONNREFUSED'), 'the log has the address and the reason')
    assert.ok(logMentions(proxy, silent.url) && logMentions(proxy, hanging.url) && logMentions(proxy, wrongAccept.url))

    held.push(await openWs(`${proxy.wsBase}/busy`))
    const busy = await refusal(`${proxy.wsBase}/busy`, { localAddress: '127.0.0.3' })
    assert.equal(JSON.parse(busy.body).code, 'WS_CLUSTER_UPSTREAMS_AT_MAX_CONNS')
    assertNothingInternal(busy.body, [portOf(live.url), 'private-busy', 'maxConns'])

    held.push(await openWs(`${proxy.wsBase}/live`, { localAddress: '127.0.0.2' }))
    const limited = await refusal(`${proxy.wsBase}/live`, { localAddress: '127.0.0.2' })
    assert.equal(limited.status, 503)
    assert.equal(JSON.parse(limited.body).code, 'WS_CLUSTER_CONNECTION_LIMIT')
    assertNothingInternal(limited.body, ['127.0.0.2', 'maxConnectionsPerIp'])
    assert.ok(logMentions(proxy, 'maxConnectionsPerIp (1) reached for 127.0.0.2'))
  } finally {
    for (const ws of held) await closeWs(ws)
    await proxy.close()
    await Promise.all([hanging.close(), silent.close(), wrongAccept.close(), live.close()])
  }
  await assertNoFdLeak(baseline)
})

test('R80 plain-HTTP passthrough failures (refused, timeout, a 101 to a plain request) answer the code only; the log has the upstream', async () => {
  const baseline = openFdCount()
  const refused = await refusedUrl()
  const silent = await startSilentUpstream()
  const switching = await startRawBackend(({ socket }) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n')
  })
  const proxy = await startProxy({
    upstreams: { 'private-a': { servers: [refused] }, 'private-b': { servers: [silent.url] }, 'private-c': { servers: [switching.url] } },
    routes: [
      { path: '/a', upstream: 'private-a', http: true },
      { path: '/b', upstream: 'private-b', http: true, idleTimeout: '300ms' },
      { path: '/c', upstream: 'private-c', http: true }
    ]
  })
  try {
    const cases: Array<{ path: string, status: number, code: string, secrets: string[] }> = [
      { path: '/a', status: 502, code: 'WS_CLUSTER_UPSTREAM_CONNECT_FAILED', secrets: [portOf(refused), 'private-a'] },
      { path: '/b', status: 504, code: 'WS_CLUSTER_UPSTREAM_HANDSHAKE_TIMEOUT', secrets: [portOf(silent.url), '300'] },
      { path: '/c', status: 502, code: 'WS_CLUSTER_UPSTREAM_BAD_HANDSHAKE', secrets: [portOf(switching.url), 'switching'] }
    ]
    for (const { path, status, code, secrets } of cases) {
      const res = await httpGet(`${proxy.httpBase}${path}`)
      assert.equal(res.status, status, path)
      assert.equal((JSON.parse(res.body) as { code: string }).code, code, path)
      assertNothingInternal(res.body, secrets)
    }
    assert.ok(logMentions(proxy, refused) && logMentions(proxy, silent.url) && logMentions(proxy, switching.url), 'the log names each upstream')
  } finally {
    await proxy.close()
    await Promise.all([silent.close(), switching.close()])
  }
  await assertNoFdLeak(baseline)
})
