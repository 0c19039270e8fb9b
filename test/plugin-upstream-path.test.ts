import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, httpGet, openWs, startProxy } from './helpers/plugin-harness.js'

// R55: `upstreamPath` replaces the matched part of the path by plain
// concatenation, as the URI of nginx's `proxy_pass http://b/uri` does, for
// upgrades and plain-HTTP passthrough alike; the query goes on as it came.
// R38: each test ends with the file descriptors it started with.

const ROUTES = [
  { path: '/ws/*', upstream: 'b', http: true, upstreamPath: '/' },
  { path: '/sock', upstream: 'b', http: true, upstreamPath: '/socket' },
  { path: '/api/*', upstream: 'b', http: true, upstreamPath: '/v2' },
  { path: '/deep/*', upstream: 'b', http: true, upstreamPath: '/app/socket.io/', headers: { set: { 'X-Original': '$request_uri' } } },
  { path: '/same/*', upstream: 'b', http: true }
]

/** [request target, what the backend must see] */
const CASES: Array<[string, string]> = [
  // nginx: location /ws/ + proxy_pass http://b/; → /ws/chat?x=1 goes up as /chat?x=1
  ['/ws/chat?x=1', '/chat?x=1'],
  ['/ws/', '/'],
  // exact route: the whole path is replaced, the query kept
  ['/sock', '/socket'],
  ['/sock?room=2', '/socket?room=2'],
  // plain concatenation: no slash is added between /v2 and the rest
  ['/api/items', '/v2items'],
  // the query goes on byte for byte (no re-encoding, a bare key stays bare)
  ['/deep/?EIO=4&transport=websocket&b=2&a=1&a=3&flag&sp=%20', '/app/socket.io/?EIO=4&transport=websocket&b=2&a=1&a=3&flag&sp=%20'],
  // without upstreamPath nothing changes
  ['/same/x?y=1', '/same/x?y=1']
]

test('R55 upstreamPath on upgrades: the matched part is replaced, the rest and the query are kept, $request_uri stays the original', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: ROUTES })
  try {
    for (const [target, expected] of CASES) {
      const ws = await openWs(`${proxy.wsBase}${target}`)
      assert.equal(await echo(ws, target), target)
      await closeWs(ws)
      assert.equal(backend.upgrades.at(-1)?.url, expected, target)
    }
    const deep = backend.upgrades.find(req => req.url?.startsWith('/app/'))
    assert.equal(deep?.headers['x-original'], '/deep/?EIO=4&transport=websocket&b=2&a=1&a=3&flag&sp=%20')
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R55 upstreamPath on plain-HTTP passthrough: the same rewrite as the upgrade', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: ROUTES })
  try {
    for (const [target, expected] of CASES) {
      const res = await httpGet(`${proxy.httpBase}${target}`)
      assert.equal(res.status, 200, `${target}: ${res.body}`)
      assert.equal((JSON.parse(res.body) as { url: string }).url, expected, target)
    }
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
