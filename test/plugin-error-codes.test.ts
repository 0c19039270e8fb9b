import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { errors, wsProxyClientErrorHandler } from '../plugin/index.js'
import * as clusterErrors from '../cluster/cluster-errors.js'
import { startEchoBackend, startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { rawConnect, rawExchange, startProxy, statusOf, upgradeHead, waitFor } from './helpers/plugin-harness.js'
import { startSilentUpstream } from './helpers/stand-in-upstreams.js'

// R96: every refusal and failure carries its own WS_CLUSTER_* code, in the
// answer's body or in the log line, and the README's list names them all.

/** The `code` of an answer's JSON body. */
function codeOf (answer: string): string | undefined {
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
  try {
    return (JSON.parse(body) as { code?: string }).code
  } catch {
    return undefined
  }
}

test('R96 request-shape refusals (505, 414, 400 for Host) and the 426 of a WebSocket-only route answer with their own codes', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], limits: { maxUrlLength: 100 } })
  try {
    const cases: Array<[string, string, number, string]> = [
      ['HTTP/2.0', upgradeHead('/ws').replace('HTTP/1.1', 'HTTP/2.0'), 505, 'WS_CLUSTER_HTTP_VERSION_NOT_SUPPORTED'],
      ['long target', upgradeHead(`/ws?${'q'.repeat(200)}`), 414, 'WS_CLUSTER_URI_TOO_LONG'],
      ['no Host', upgradeHead('/ws').replace('Host: 127.0.0.1\r\n', ''), 400, 'WS_CLUSTER_BAD_REQUEST'],
      ['two Hosts', upgradeHead('/ws', ['Host: other']), 400, 'WS_CLUSTER_BAD_REQUEST'],
      ['plain GET', 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 426, 'WS_CLUSTER_UPGRADE_REQUIRED']
    ]
    for (const [name, request, status, code] of cases) {
      const answer = await rawExchange(proxy.port, request)
      assert.equal(statusOf(answer), status, name)
      assert.equal(codeOf(answer), code, name)
    }
    assert.equal(backend.upgrades.length + backend.requests.length, 0)
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R96 an upgrade the shutdown ends is WS_CLUSTER_SHUTTING_DOWN; a client that leaves mid-attempt is logged as WS_CLUSTER_CLIENT_GONE', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const silent = await startSilentUpstream()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] }, slow: { servers: [silent.url] } },
    routes: [{ path: '/ws', upstream: 'b' }, { path: '/slow', upstream: 'slow', handshakeTimeout: '30s' }],
    shutdownTimeout: 300
  })
  try {
    const client = await rawConnect(proxy.port)
    client.write(upgradeHead('/slow'))
    await waitFor(() => silent.accepted() === 1, 'upstream asked')
    client.end()
    await waitFor(() => proxy.logs.some(line => line.msg === 'upgrade abandoned: the client went away'), 'the abandoned attempt logged')
    const gone = proxy.logs.find(line => line.msg === 'upgrade abandoned: the client went away')
    assert.equal((gone?.err as { code?: string }).code, 'WS_CLUSTER_CLIENT_GONE')
    client.destroy()

    // An upgrade still waiting for its upstream when the drain ends is answered 503 with the shutdown's code.
    const waiting = rawExchange(proxy.port, upgradeHead('/slow'))
    await waitFor(() => silent.accepted() === 2, 'upstream asked again')
    await proxy.close()
    const answer = await waiting
    assert.equal(statusOf(answer), 503)
    assert.equal(codeOf(answer), 'WS_CLUSTER_SHUTTING_DOWN')
  } finally {
    await proxy.close()
    await backend.close()
    await silent.close()
  }
  await assertNoFdLeak(baseline)
})

test('R96 plain-HTTP passthrough: an upstream that does not answer in time is WS_CLUSTER_UPSTREAM_RESPONSE_TIMEOUT (504), one that resets after the request WS_CLUSTER_UPSTREAM_REQUEST_FAILED (502)', async () => {
  const baseline = openFdCount()
  const silent = await startSilentUpstream()
  const resetting = await startRawBackend(({ socket }) => { socket.resetAndDestroy() })
  const proxy = await startProxy({
    upstreams: { quiet: { servers: [silent.url], keepalive: 0 }, reset: { servers: [resetting.url], keepalive: 0 } },
    routes: [{ path: '/quiet/*', upstream: 'quiet', http: true, idleTimeout: 500 }, { path: '/reset/*', upstream: 'reset', http: true }]
  })
  try {
    const timedOut = await rawExchange(proxy.port, 'GET /quiet/poll HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(timedOut), 504)
    assert.equal(codeOf(timedOut), 'WS_CLUSTER_UPSTREAM_RESPONSE_TIMEOUT')
    const reset = await rawExchange(proxy.port, 'GET /reset/poll HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(reset), 502)
    assert.equal(codeOf(reset), 'WS_CLUSTER_UPSTREAM_REQUEST_FAILED')
  } finally {
    await proxy.close()
    await silent.close()
    await resetting.close()
  }
  await assertNoFdLeak(baseline)
})

test('R96 a request Node\'s parser refuses is logged with WS_CLUSTER_MALFORMED_REQUEST and the parser\'s own code', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] }, {
    fastify: { clientErrorHandler: wsProxyClientErrorHandler }
  })
  try {
    assert.equal(statusOf(await rawExchange(proxy.port, 'G@T /ws HTTP/1.1\r\nHost: a\r\n\r\n')), 400)
    const line = proxy.logs.find(l => l.statusCode === 400 && l.code !== undefined)
    assert.equal(line?.code, 'WS_CLUSTER_MALFORMED_REQUEST')
    assert.match(String(line?.parserCode), /^HPE_/)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R96 the README\'s "Errors and logs" names every code the plugin and the cluster define, and each code is defined once', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const codes = ['plugin/errors.ts', 'cluster/cluster-errors.ts']
    .flatMap(file => [...readFileSync(`${root}${file}`, 'utf8').matchAll(/createError(?:<[^(]*>)?\(\s*'(WS_CLUSTER_[A-Z_]+)'/g)].map(m => m[1]))
  assert.equal(new Set(codes).size, codes.length, 'no code is shared by two errors')
  // What the files define is what the package exports.
  assert.equal(new errors.ClientGoneError('u').code, 'WS_CLUSTER_CLIENT_GONE')
  assert.equal(new clusterErrors.ConfigError(null, []).code, 'WS_CLUSTER_INVALID_CONFIG')
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
  const section = readme.slice(readme.indexOf('### Errors and logs'), readme.indexOf('\n### ', readme.indexOf('### Errors and logs') + 5))
  for (const code of codes) assert.ok(section.includes(`\`${code}\``), `${code} is listed in README "Errors and logs"`)
  assert.ok(codes.length >= 24)
})
