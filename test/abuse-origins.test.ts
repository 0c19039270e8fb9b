import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveOptions } from '../plugin/index.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, openWs, refusal, startProxy } from './helpers/plugin-harness.js'

// Cross-site WebSocket hijacking: a page on any site can open a WebSocket to
// the proxy, and the browser sends the user's cookies with it. Routes that
// list allowedOrigins refuse the upgrades of every other page with 403.

test('R85 allowedOrigins: listed origins and subdomains of a wildcard are served, any other Origin gets 403 and never reaches the upstream', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [
      { path: '/ws', upstream: 'b', allowedOrigins: ['https://app.example.com', 'https://*.example.org'] },
      { path: '/strict', upstream: 'b', allowedOrigins: ['https://app.example.com'], requireOrigin: true },
      { path: '/open', upstream: 'b' }
    ]
  })
  try {
    const allowed: Array<[string, string | undefined]> = [
      ['/ws', 'https://app.example.com'], ['/ws', 'HTTPS://App.Example.com:443'], ['/ws', 'https://chat.example.org'],
      ['/ws', 'https://a.b.example.org'], ['/ws', undefined], ['/strict', 'https://app.example.com'], ['/open', 'https://evil.test']
    ]
    for (const [path, origin] of allowed) {
      const ws = await openWs(`${proxy.wsBase}${path}`, origin === undefined ? {} : { origin })
      await closeWs(ws)
    }
    const upgradesBefore = backend.upgrades.length
    const refused: Array<[string, string | undefined]> = [
      ['/ws', 'https://evil.test'], ['/ws', 'https://example.org'], ['/ws', 'http://app.example.com'],
      ['/ws', 'https://app.example.com:8443'], ['/ws', 'null'], ['/ws', 'https://app.example.com.evil.test'],
      ['/ws', 'not a url'], ['/strict', undefined]
    ]
    for (const [path, origin] of refused) {
      const answer = await refusal(`${proxy.wsBase}${path}`, origin === undefined ? {} : { origin })
      assert.equal(answer.status, 403, `${path} ${String(origin)}`)
      assert.equal((JSON.parse(answer.body) as { code: string }).code, 'WS_CLUSTER_FORBIDDEN_ORIGIN')
    }
    assert.equal(backend.upgrades.length, upgradesBefore, 'refused upgrades cost no upstream connection')
    // R88: seven refusals in a row on one route, one warning (the next one says how many were left out).
    const warnings = proxy.logs.filter(line => line.msg === 'upgrade refused: origin not allowed' && line.route === '/ws')
    assert.equal(warnings.length, 1)
    assert.match(String(warnings[0].reason), /evil\.test/)
    assert.equal(proxy.app.wsProxy.stats().routes['/ws'].failed, 7)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R85 allowedOrigins and requireOrigin are validated with the path, the value and what is allowed', () => {
  const route = (extra: Record<string, unknown>): unknown => ({ upstreams: { a: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'a', ...extra }] })
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ allowedOrigins: [] }, /routes\[0\]\.allowedOrigins: got \[\]; allowed: a non-empty array of origins/],
    [{ allowedOrigins: ['*'] }, /allowedOrigins\[0\]: got "\*".*leave allowedOrigins out to allow any origin/],
    [{ allowedOrigins: ['null'] }, /allowedOrigins\[0\]: got "null".*sandboxed frames/],
    [{ allowedOrigins: ['https://app.example.com/chat'] }, /allowedOrigins\[0\]: got "https:\/\/app\.example\.com\/chat".*no path/],
    [{ allowedOrigins: ['https://*.com'] }, /allowedOrigins\[0\].*at least two labels/],
    [{ allowedOrigins: ['https://a*.example.com'] }, /allowedOrigins\[0\].*only allowed as the first label/],
    [{ allowedOrigins: ['app.example.com'] }, /allowedOrigins\[0\]: got "app\.example\.com"; allowed: scheme:\/\/host/],
    [{ requireOrigin: 'yes' }, /routes\[0\]\.requireOrigin: got "yes"; allowed: true or false/]
  ]
  for (const [extra, message] of cases) assert.throws(() => resolveOptions(route(extra)), message)
  const [resolved] = resolveOptions(route({ allowedOrigins: ['https://App.Example.com:443', 'https://*.example.org:8443'] })).routes
  assert.deepEqual(resolved.allowedOrigins, [
    { kind: 'exact', origin: 'https://app.example.com' },
    { kind: 'subdomains', scheme: 'https:', suffix: '.example.org', port: '8443' }
  ])
})
