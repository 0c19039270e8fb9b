import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { parseDuration, resolveOptions, wsProxy, type WsProxyOptions } from '../plugin/index.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

const S1 = 'http://127.0.0.1:9001'
const S2 = 'http://127.0.0.1:9002'

/** Valid options with one part replaced. */
function withUpstream (group: unknown): unknown {
  return { upstreams: { g: group }, routes: [{ path: '/ws', upstream: 'g' }] }
}
function withServer (server: unknown): unknown {
  return withUpstream({ servers: [server] })
}
function withRoute (route: Record<string, unknown>): unknown {
  return { upstreams: { g: { servers: [S1] } }, routes: [{ path: '/ws', upstream: 'g', ...route }] }
}
function withTop (extra: Record<string, unknown>): unknown {
  return { upstreams: { g: { servers: [S1] } }, routes: [{ path: '/ws', upstream: 'g' }], ...extra }
}

/** [options, option path, value as shown (null: a missing or unknown key, which has no value to show), a fragment of what is allowed] */
const INVALID: Array<[unknown, string, string | null, RegExp]> = [
  [{}, 'upstreams', null, /at least one named upstream/],
  [{ ...(withTop({}) as object), upstream: {} }, 'upstream', null, /did you mean "upstreams"\? known keys: upstreams, routes/],
  [{ upstreams: {}, routes: [] }, 'upstreams', '{}', /at least one named upstream/],
  [withUpstream('http://127.0.0.1:1'), 'upstreams.g', '"http://127.0.0.1:1"', /servers: \[/],
  [withUpstream({ servers: [S1], balancer: 'ip-hash' }), 'upstreams.g.balancer', null, /balance, hashKey, servers, keepalive/],
  [withUpstream({ servers: [S1], balance: 'weighted' }), 'upstreams.g.balance', '"weighted"', /"round-robin", "least-conn", "ip-hash", "hash", "random-two"/],
  [withUpstream({ servers: [S1], balance: null }), 'upstreams.g.balance', 'null', /"round-robin", "least-conn"/],
  [withUpstream({ servers: [S1], hashKey: 'header:x' }), 'upstreams.g.hashKey', '"header:x"', /only with balance: "hash"/],
  [withUpstream({ servers: [S1], balance: 'hash', hashKey: 'body:x' }), 'upstreams.g.hashKey', '"body:x"', /"header:NAME", "query:NAME"/],
  [withUpstream({ servers: [S1], balance: 'hash', hashKey: 'header:' }), 'upstreams.g.hashKey', '"header:"', /"cookie:NAME"/],
  [withUpstream({ servers: [] }), 'upstreams.g.servers', '[]', /non-empty array/],
  [withUpstream({ servers: [S1], keepalive: -1 }), 'upstreams.g.keepalive', '-1', /integer from 0/],
  [withServer('ftp://127.0.0.1:21'), 'upstreams.g.servers[0]', '"ftp://127.0.0.1:21"', /http:\/\/ or https:\/\//],
  [withServer('127.0.0.1:9001'), 'upstreams.g.servers[0]', '"127.0.0.1:9001"', /absolute http:\/\//],
  [withServer(42), 'upstreams.g.servers[0]', '42', /URL string/],
  [withServer({ url: S1, weight: 0 }), 'upstreams.g.servers[0].weight', '0', /integer from 1 to 1000/],
  [withServer({ url: S1, weight: 1.5 }), 'upstreams.g.servers[0].weight', '1.5', /integer from 1 to 1000/],
  [withServer({ url: S1, weight: '2' }), 'upstreams.g.servers[0].weight', '"2"', /integer from 1 to 1000/],
  [withServer({ url: S1, maxFails: -1 }), 'upstreams.g.servers[0].maxFails', '-1', /integer from 0/],
  [withServer({ url: S1, failTimeout: '10 parsecs' }), 'upstreams.g.servers[0].failTimeout', '"10 parsecs"', /"500ms", "60s"/],
  [withServer({ url: S1, maxConns: -1 }), 'upstreams.g.servers[0].maxConns', '-1', /integer from 0/],
  [withServer({ url: S1, backup: 'yes' }), 'upstreams.g.servers[0].backup', '"yes"', /true or false/],
  [withServer({ url: S1, wieght: 2 }), 'upstreams.g.servers[0].wieght', null, /did you mean "weight"\? known keys: url, weight, maxFails/],
  [withUpstream({ servers: [S1, S1] }), 'upstreams.g.servers[1]', `"${S1}"`, /each server once/],
  [withUpstream({ servers: [{ url: S1, backup: true }, { url: S2, down: true }] }), 'upstreams.g.servers', '[{', /neither backup nor down/],
  [withTop({ routes: [] }), 'routes', '[]', /non-empty array/],
  [withTop({ routes: ['/ws'] }), 'routes[0]', '"/ws"', /\{ path, upstream/],
  [withRoute({ path: 'ws' }), 'routes[0].path', '"ws"', /starting with "\/"/],
  [withRoute({ path: '/rooms/:id' }), 'routes[0].path', '"/rooms/:id"', /prefix ending in "\/\*"/],
  [withRoute({ path: '/a*' }), 'routes[0].path', '"/a*"', /"\*" is only allowed as the final "\/\*"/],
  [withRoute({ upstream: 'chat' }), 'routes[0].upstream', '"chat"', /defined upstream group \(defined: g\)/],
  [withRoute({ mode: 'frames' }), 'routes[0].mode', '"frames"', /"tunnel"/],
  [withRoute({ connectTimeout: 0 }), 'routes[0].connectTimeout', '0', /above 0/],
  [withRoute({ handshakeTimeout: '0s' }), 'routes[0].handshakeTimeout', '"0s"', /above 0/],
  [withRoute({ idleTimeout: -5 }), 'routes[0].idleTimeout', '-5', /non-negative number/],
  [withRoute({ idleTimeout: '1 hour' }), 'routes[0].idleTimeout', '"1 hour"', /"1h"/],
  [withRoute({ idleTimeout: '30d' }), 'routes[0].idleTimeout', '"30d"', /at most 2147483647 ms/],
  [withRoute({ sendTimeout: true }), 'routes[0].sendTimeout', 'true', /"60s"/],
  [withRoute({ finTimeout: {} }), 'routes[0].finTimeout', '{}', /"60s"/],
  [withRoute({ forwardedHeaders: 'yes' }), 'routes[0].forwardedHeaders', '"yes"', /true or false/],
  [withRoute({ preserveHost: 0 }), 'routes[0].preserveHost', '0', /true or false/],
  [withRoute({ http: 'true' }), 'routes[0].http', '"true"', /true or false/],
  [withRoute({ idle: '1h' }), 'routes[0].idle', null, /known keys: path, upstream, mode, connectTimeout, handshakeTimeout, idleTimeout/],
  [withTop({ routes: [{ path: '/ws', upstream: 'g' }, { path: '/ws', upstream: 'g' }] }), 'routes[1].path', '"/ws"', /each path once/],
  [withTop({ limits: 5 }), 'limits', '5', /maxConnections\?/],
  [withTop({ limits: null }), 'limits', 'null', /maxConnections\?/],
  [withTop({ limits: { maxConnections: -1 } }), 'limits.maxConnections', '-1', /integer from 0/],
  [withTop({ limits: { maxConnectionsPerIp: 1.5 } }), 'limits.maxConnectionsPerIp', '1.5', /integer from 0/],
  [withTop({ limits: { maxUrlLength: 8 } }), 'limits.maxUrlLength', '8', /integer from 16/],
  [withTop({ limits: { maxConns: 1 } }), 'limits.maxConns', null, /maxConnections, maxConnectionsPerIp, maxUrlLength/],
  [withTop({ shutdownTimeout: 'soon' }), 'shutdownTimeout', '"soon"', /"500ms"/],
  [withTop({ closeSpread: 'gradually' }), 'closeSpread', '"gradually"', /"500ms"/],
  [withTop({ accessLog: 'on' }), 'accessLog', '"on"', /true or false/],
  [withTop({ prefix: '/api' }), 'prefix', '"/api"', /route paths are absolute/]
]

test('invalid options throw WS_CLUSTER_INVALID_OPTION at registration, naming the option path, the value and what is allowed', async () => {
  const baseline = openFdCount()
  for (const [options, path, shown, allowed] of INVALID) {
    const app = Fastify()
    app.register(wsProxy, options as WsProxyOptions)
    await assert.rejects(async () => { await app.ready() }, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WS_CLUSTER_INVALID_OPTION', `${path}: ${err.message}`)
      assert.ok(err.message.startsWith(`Invalid option ${path}: `), `${path}: ${err.message}`)
      const [first] = (err as Error & { problems: Array<{ path: string, message: string }> }).problems
      assert.equal(first.path, path, err.message)
      if (shown !== null) assert.ok(first.message.startsWith(`got ${shown}`), `${path}: ${first.message}`)
      const allowedText = shown === null ? first.message : first.message.slice(first.message.indexOf('; allowed: ') + '; allowed: '.length)
      assert.match(allowedText, allowed, `${path}: ${err.message}`)
      return true
    }, path)
    await app.close()
  }
  await assertNoFdLeak(baseline)
})

test('durations are milliseconds or strings with ms, s, m, h, d units', async () => {
  const baseline = openFdCount()
  const cases: Array<[unknown, number]> = [
    ['500ms', 500], ['60s', 60_000], ['1h', 3_600_000], ['7d', 604_800_000], ['5m', 300_000],
    ['1.5s', 1500], [' 2s ', 2000], ['250ms', 250], [250, 250], [0, 0], [1234.4, 1234]
  ]
  for (const [value, ms] of cases) assert.equal(parseDuration(value, 'x'), ms, JSON.stringify(value))
  // A unit-less string is 30 s to an nginx user and 30 ms to JavaScript: refused, with both readings spelt out.
  assert.throws(() => parseDuration('30', 'routes[0].idleTimeout'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WS_CLUSTER_INVALID_OPTION')
    assert.match(err.message, /^Invalid option routes\[0\]\.idleTimeout: got "30", a string without a unit; write "30s" for 30 seconds \(as nginx reads it\) or "30ms" \(or the number 30\) for milliseconds/)
    return true
  })
  const resolved = resolveOptions({
    upstreams: { g: { servers: [{ url: S1, failTimeout: '30s' }] } },
    routes: [{ path: '/ws', upstream: 'g', connectTimeout: '500ms', handshakeTimeout: 2000, idleTimeout: '7d', sendTimeout: '1h', finTimeout: '60s' }],
    shutdownTimeout: '5m'
  })
  const [route] = resolved.routes
  assert.deepEqual(
    [route.connectTimeout, route.handshakeTimeout, route.idleTimeout, route.sendTimeout, route.finTimeout],
    [500, 2000, 604_800_000, 3_600_000, 60_000]
  )
  assert.equal(resolved.upstreams.get('g')?.servers[0].failTimeout, 30_000)
  assert.equal(resolved.shutdownTimeout, 300_000)
  // The same options register on a real Fastify instance and it starts listening.
  const app = Fastify()
  await app.register(wsProxy, {
    upstreams: { g: { servers: [{ url: S1, failTimeout: '30s' }] } },
    routes: [{ path: '/ws', upstream: 'g', connectTimeout: '500ms', idleTimeout: '7d', sendTimeout: '1h' }],
    shutdownTimeout: '5m'
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.close()
  await assertNoFdLeak(baseline)
})

test('defaults: 10 s connect and handshake, 1 h idle, 60 s send, 30 s fin, forwarded headers and Host preserved', () => {
  const resolved = resolveOptions({ upstreams: { g: { servers: [S1] } }, routes: [{ path: '/chat/*', upstream: 'g' }] })
  const [route] = resolved.routes
  assert.deepEqual(
    { ...route },
    {
      path: '/chat/*',
      prefix: '/chat/',
      upstream: 'g',
      mode: 'tunnel',
      connectTimeout: 10_000,
      handshakeTimeout: 10_000,
      idleTimeout: 3_600_000,
      sendTimeout: 60_000,
      finTimeout: 30_000,
      forwardedHeaders: true,
      preserveHost: true,
      http: false,
      headers: null,
      upstreamPath: null,
      relay: null,
      upgradeProtocols: ['websocket'],
      allowedOrigins: null,
      requireOrigin: false
    }
  )
  assert.deepEqual(resolved.limits, { maxConnections: 0, maxConnectionsPerIp: 0, maxUrlLength: 8192, connectionRate: null, ipv6Prefix: 128 })
  assert.deepEqual(resolved.upstreams.get('g')?.tls, { ca: null, servername: null, rejectUnauthorized: true })
  assert.equal(resolved.shutdownTimeout, 10_000)
  assert.equal(resolved.closeSpread, 10_000)
})
