import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { WebSocket } from 'ws'
import type { WsProxyOptions } from '../plugin/index.js'
import { closeEchoBackends, startEchoBackend, startNamedEchoBackends } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { echo, httpGet, openOn, openWs, startProxy, tunnelLogs, upgradeStatus, waitFor } from './helpers/plugin-harness.js'

// R99, R100, R104: `fastify.wsProxy.update()` applies new options to a
// running instance; open tunnels stay unless their server is gone or down.

test('R99 update in place: an added route takes upgrades at once, a removed one answers 404, and tunnels on the removed route stay open', async () => {
  const baseline = openFdCount()
  const [a] = await startNamedEchoBackends('a')
  const options: WsProxyOptions = { upstreams: { main: { servers: [a.url] } }, routes: [{ path: '/ws', upstream: 'main' }] }
  const proxy = await startProxy(options)
  try {
    const old = await openWs(`${proxy.wsBase}/ws`)
    const result = await proxy.app.wsProxy.update({ ...options, routes: [{ path: '/v2/*', upstream: 'main' }], limits: { maxConnections: 2 } })
    assert.deepEqual(result.notApplied, [])
    assert.equal(result.closing, 0)
    assert.deepEqual(result.applied.filter(c => c.path.startsWith('routes')), [
      { path: 'routes[0]', change: 'added /v2/*' },
      { path: 'routes', change: 'removed /ws' }
    ])
    assert.equal(await echo(old, 'still here'), 'still here', 'the tunnel on the removed route is untouched')

    const fresh = await openWs(`${proxy.wsBase}/v2/chat`)
    assert.equal(await echo(fresh, 'new route'), 'new route')
    assert.equal((await httpGet(`${proxy.httpBase}/v2/chat`)).status, 426, 'a plain GET on the new upgrade-only route')
    assert.equal(await upgradeStatus(`${proxy.wsBase}/ws`), 404)
    assert.equal((await httpGet(`${proxy.httpBase}/ws`)).status, 404)
    // The new limit counts the two open tunnels: a third upgrade is refused, the open ones are not touched.
    assert.equal(await upgradeStatus(`${proxy.wsBase}/v2/other`), 503)
    assert.equal(await echo(old, 'after the limit'), 'after the limit')
    assert.deepEqual(Object.keys(proxy.app.wsProxy.stats().routes).sort(), ['/v2/*', '/ws'], 'the removed route is listed while it has tunnels')
    old.terminate()
    fresh.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends([a])
  }
  await assertNoFdLeak(baseline)
})

test('R99 an invalid update throws WS_CLUSTER_INVALID_OPTION naming the option and changes nothing', async () => {
  const baseline = openFdCount()
  const [a] = await startNamedEchoBackends('a')
  const options: WsProxyOptions = { upstreams: { main: { servers: [a.url] } }, routes: [{ path: '/ws', upstream: 'main' }] }
  const proxy = await startProxy(options)
  try {
    await assert.rejects(proxy.app.wsProxy.update({ ...options, routes: [{ path: '/ws', upstream: 'nope' }] }),
      (err: Error & { code?: string }) => err.code === 'WS_CLUSTER_INVALID_OPTION' && /routes\[0\]\.upstream/.test(err.message))
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'unchanged'), 'unchanged')
    ws.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends([a])
  }
  await assertNoFdLeak(baseline)
})

test('R100 R98 removing a server by update closes only its tunnels, with 1012 at both ends, spread over closeSpread; the other server keeps its tunnels and counts', async () => {
  const baseline = openFdCount()
  const backendCodes: number[] = []
  const backends = [
    await startEchoBackend({ name: 'a' }),
    await startEchoBackend({ name: 'b', onConnection: (ws) => ws.on('close', (code) => backendCodes.push(code)) })
  ]
  const [a, b] = backends
  const options: WsProxyOptions = {
    upstreams: { main: { servers: [a.url, b.url] } },
    routes: [{ path: '/ws', upstream: 'main' }],
    closeSpread: '1200ms'
  }
  const proxy = await startProxy(options)
  try {
    const opened: Array<{ ws: WebSocket, backend: string }> = []
    for (let i = 0; i < 6; i++) opened.push(await openOn(`${proxy.wsBase}/ws`))
    const onB = opened.filter(o => o.backend === 'b').map(o => o.ws)
    const onA = opened.filter(o => o.backend === 'a').map(o => o.ws)
    assert.equal(onB.length, 3, 'round-robin put three on each server')
    const closedAt: number[] = []
    const codes = onB.map(async (ws) => {
      const [code] = await once(ws, 'close') as [number]
      closedAt.push(Date.now())
      return code
    })
    let aClosed = 0
    for (const ws of onA) ws.once('close', () => { aClosed++ })

    const result = await proxy.app.wsProxy.update({ ...options, upstreams: { main: { servers: [a.url] } } })
    assert.equal(result.closing, 3)
    assert.deepEqual(result.applied, [{ path: 'upstreams.main.servers', change: `removed ${b.url}` }])
    assert.deepEqual(await Promise.all(codes), [1012, 1012, 1012])
    closedAt.sort((x, y) => x - y)
    const spread = closedAt[2] - closedAt[0]
    assert.ok(spread >= 900 && spread <= 5000, `spread over closeSpread (${spread} ms from first to last)`)
    await waitFor(() => backendCodes.length === 3, 'the removed server\'s sockets closed')
    assert.deepEqual(backendCodes, [1012, 1012, 1012], 'the removed server got masked 1012 close frames')
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['server-removed', 'server-removed', 'server-removed'])

    for (const ws of onA) assert.equal(await echo(ws, 'kept'), 'kept')
    assert.equal(aClosed, 0)
    const servers = proxy.app.wsProxy.stats().upstreams.main.servers
    assert.deepEqual(servers.map(s => [s.url, s.active, s.total]), [[a.url, 3, 3]], 'the staying server kept its counts')
    const next = await openOn(`${proxy.wsBase}/ws`)
    assert.equal(next.backend, 'a')
    for (const ws of [...onA, next.ws]) ws.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})

test('R100 marking a server down by update closes its tunnels with 1012 (logged server-down); new upgrades avoid it', async () => {
  const baseline = openFdCount()
  const backends = await startNamedEchoBackends('a', 'b')
  const [a, b] = backends
  const options: WsProxyOptions = { upstreams: { main: { servers: [a.url, b.url] } }, routes: [{ path: '/ws', upstream: 'main' }], closeSpread: 0 }
  const proxy = await startProxy(options)
  try {
    const first = await openOn(`${proxy.wsBase}/ws`)
    const second = await openOn(`${proxy.wsBase}/ws`)
    const [onA, onB] = first.backend === 'a' ? [first.ws, second.ws] : [second.ws, first.ws]
    const closed = once(onB, 'close')
    const result = await proxy.app.wsProxy.update({ ...options, upstreams: { main: { servers: [a.url, { url: b.url, down: true }] } } })
    assert.equal(result.closing, 1)
    assert.deepEqual(result.applied, [{ path: `upstreams.main.servers[${b.url}].down`, change: 'false → true' }])
    assert.equal((await closed)[0], 1012)
    assert.deepEqual(tunnelLogs(proxy.logs).map(line => line.closedBy), ['server-down'])
    for (let i = 0; i < 3; i++) {
      const next = await openOn(`${proxy.wsBase}/ws`)
      assert.equal(next.backend, 'a')
      next.ws.terminate()
    }
    assert.equal(await echo(onA, 'up'), 'up')
    onA.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})

test('R104 plain-HTTP routes need a new process: adding one, or switching http off, is listed in notApplied and the running route stays as it was', async () => {
  const baseline = openFdCount()
  const [a] = await startNamedEchoBackends('a')
  const options: WsProxyOptions = {
    upstreams: { main: { servers: [a.url] } },
    routes: [{ path: '/io/*', upstream: 'main', http: true }, { path: '/ws', upstream: 'main' }]
  }
  const proxy = await startProxy(options)
  try {
    const result = await proxy.app.wsProxy.update({
      ...options,
      routes: [{ path: '/io/*', upstream: 'main' }, { path: '/ws', upstream: 'main' }, { path: '/poll', upstream: 'main', http: true }]
    })
    assert.deepEqual(result.notApplied.map(c => c.path), ['routes[0].http', 'routes[2].http'])
    assert.match(result.notApplied[0].change, /needs a new process/)
    assert.equal((await httpGet(`${proxy.httpBase}/io/x`)).status, 200, 'the http route still passes plain requests through')
    assert.equal((await httpGet(`${proxy.httpBase}/poll`)).status, 404, 'the http route that needs a new process was not added')
    const ws = await openWs(`${proxy.wsBase}/io/x`)
    assert.equal(await echo(ws, 'upgrade'), 'upgrade')
    ws.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends([a])
  }
  await assertNoFdLeak(baseline)
})

test('R100 R104 relay routes: removing a server closes its relayed WebSockets with 1012 too; changing relay settings needs a new process', async () => {
  const baseline = openFdCount()
  const backends = await startNamedEchoBackends('a', 'b')
  const [a, b] = backends
  const options: WsProxyOptions = {
    upstreams: { main: { servers: [a.url, b.url] } },
    routes: [{ path: '/ws', upstream: 'main', mode: 'relay' }],
    closeSpread: 0
  }
  const proxy = await startProxy(options)
  try {
    const first = await openOn(`${proxy.wsBase}/ws`)
    const second = await openOn(`${proxy.wsBase}/ws`)
    const [onA, onB] = first.backend === 'a' ? [first.ws, second.ws] : [second.ws, first.ws]
    const closed = once(onB, 'close')
    const result = await proxy.app.wsProxy.update({
      ...options,
      upstreams: { main: { servers: [a.url] } },
      routes: [{ path: '/ws', upstream: 'main', mode: 'relay', relay: { maxMessageSize: 1024 } }]
    })
    assert.deepEqual(result.notApplied.map(c => c.path), ['routes[0].relay'])
    assert.equal(result.closing, 1)
    assert.equal((await closed)[0], 1012)
    assert.equal(await echo(onA, 'kept'), 'kept')
    // The relay settings stayed as they were: a message above the 1024 bytes asked for still crosses.
    assert.equal((await echo(onA, 'x'.repeat(4096))).length, 4096)
    await waitFor(() => tunnelLogs(proxy.logs).length + proxy.logs.filter(line => line.msg === 'relay closed').length === 1, 'the access-log line')
    assert.deepEqual(proxy.logs.filter(line => line.msg === 'relay closed').map(line => line.closedBy), ['server-removed'])
    onA.terminate()
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})
