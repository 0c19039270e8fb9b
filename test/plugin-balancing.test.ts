import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { closeEchoBackends, startNamedEchoBackends } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { backendFor, closeWs, echo, httpGet, openOn, startProxy, waitFor } from './helpers/plugin-harness.js'
import { onceWithin } from './helpers/timing.js'

test('R21 smooth weighted round-robin over real backends: weights 5,1,1 give A A B A C A A, twice', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A', 'B', 'C')
  const [a, b, c] = list
  const proxy = await startProxy({
    upstreams: { g: { servers: [{ url: a.url, weight: 5 }, { url: b.url, weight: 1 }, { url: c.url, weight: 1 }] } },
    routes: [{ path: '/ws', upstream: 'g' }]
  })
  try {
    const seen: string[] = []
    for (let i = 0; i < 14; i++) seen.push(await backendFor(`${proxy.wsBase}/ws`))
    assert.deepEqual(seen, [...'AABACAA', ...'AABACAA'])
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})

test('R24 least-conn counts open tunnels for their whole life; lowest conns/weight wins', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A', 'B')
  const [a, b] = list
  const proxy = await startProxy({
    upstreams: {
      lc: { balance: 'least-conn', servers: [a.url, b.url] },
      weighted: { balance: 'least-conn', servers: [{ url: a.url, weight: 3 }, b.url] }
    },
    routes: [{ path: '/lc', upstream: 'lc' }, { path: '/weighted', upstream: 'weighted' }]
  })
  const open: WebSocket[] = []
  try {
    const t1 = await openOn(`${proxy.wsBase}/lc`)
    const t2 = await openOn(`${proxy.wsBase}/lc`)
    open.push(t1.ws, t2.ws)
    assert.notEqual(t1.backend, t2.backend)
    // Traffic on a long-lived tunnel does not release its count.
    assert.equal(await echo(t2.ws, 'still here'), 'still here')
    await closeWs(t1.ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 1, 'first tunnel released')
    const t3 = await openOn(`${proxy.wsBase}/lc`)
    open.push(t3.ws)
    assert.equal(t3.backend, t1.backend, 'the server without open tunnels wins')
    await closeWs(t2.ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 1, 'second tunnel released')
    const t4 = await openOn(`${proxy.wsBase}/lc`)
    open.push(t4.ws)
    assert.equal(t4.backend, t2.backend, 'the slot t2 freed is refilled while t3 stays open')
    for (const ws of open) await closeWs(ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'all tunnels released')

    const held: Array<{ ws: WebSocket, backend: string }> = []
    for (let i = 0; i < 4; i++) held.push(await openOn(`${proxy.wsBase}/weighted`))
    open.push(...held.map(t => t.ws))
    assert.deepEqual(held.map(t => t.backend).sort(), ['A', 'A', 'A', 'B'], 'conns/weight: A (weight 3) takes three of four')
  } finally {
    for (const ws of open) await closeWs(ws)
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})

/** R26's hash, written from its line in docs/behaviour.md, for equal weights. */
function ipHashIndex (address: string, servers: number): number {
  let h = 89
  for (const octet of address.split('.').slice(0, 3).map(Number)) h = (h * 113 + octet) % 6271
  return h % servers
}

test('R26 ip-hash over real sockets: clients on different 127.x.y.z addresses land where the nginx hash says, every time', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A', 'B', 'C')
  const proxy = await startProxy({
    upstreams: { g: { balance: 'ip-hash', servers: list.map(backend => backend.url) } },
    routes: [{ path: '/ws', upstream: 'g' }]
  })
  try {
    assert.equal(ipHashIndex('127.0.0.1', 3), 2, 'the reference vector: 127.0.0.1 goes to the third server')
    const expected = new Set<string>()
    for (const third of [0, 1, 2, 3, 4, 5, 9, 17]) {
      const want = 'ABC'[ipHashIndex(`127.0.${third}.1`, 3)]
      expected.add(want)
      for (const fourth of [1, 7, 200]) {
        const localAddress = `127.0.${third}.${fourth}`
        assert.equal(await backendFor(`${proxy.wsBase}/ws`, { localAddress }), want, `client ${localAddress}`)
      }
    }
    assert.ok(expected.size > 1, 'the addresses chosen spread over several servers')
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})

test('R27 hash with header:, query: and cookie: keys keeps each key on one backend whatever the client address; no key → round-robin', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A', 'B', 'C')
  const servers = list.map(backend => backend.url)
  const proxy = await startProxy({
    upstreams: {
      byHeader: { balance: 'hash', hashKey: 'header:X-Room', servers },
      byQuery: { balance: 'hash', hashKey: 'query:room', servers },
      byCookie: { balance: 'hash', hashKey: 'cookie:sid', servers }
    },
    routes: [{ path: '/h', upstream: 'byHeader' }, { path: '/q', upstream: 'byQuery' }, { path: '/c', upstream: 'byCookie' }]
  })
  try {
    const ways = [
      (key: string, localAddress: string) => backendFor(`${proxy.wsBase}/h`, { localAddress, headers: { 'x-room': key } }),
      (key: string, localAddress: string) => backendFor(`${proxy.wsBase}/q?x=1&room=${key}`, { localAddress }),
      (key: string, localAddress: string) => backendFor(`${proxy.wsBase}/c`, { localAddress, headers: { cookie: `a=b; sid=${key}; z=y` } })
    ]
    for (const way of ways) {
      const used = new Set<string>()
      for (let k = 0; k < 12; k++) {
        const key = `room-${k}`
        const first = await way(key, '127.0.0.1')
        used.add(first)
        assert.equal(await way(key, '127.0.3.4'), first, `${key} from another address`)
        assert.equal(await way(key, '127.0.9.9'), first, `${key} from a third address`)
      }
      assert.ok(used.size > 1, 'twelve keys spread over more than one backend')
    }
    const keyless: string[] = []
    for (let i = 0; i < 3; i++) keyless.push(await backendFor(`${proxy.wsBase}/h`))
    assert.deepEqual([...keyless].sort(), ['A', 'B', 'C'], 'an empty key falls back to round-robin')
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})

test('R28 once the 101 went to the client there is no retry: an upstream dying right after it closes the client, the next server is not tried', async () => {
  const baseline = openFdCount()
  const dying = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await onceWithin(dying, 'listening')
  dying.on('connection', (ws) => { ws.terminate() })
  const list = await startNamedEchoBackends('live')
  const [live] = list
  const proxy = await startProxy({
    upstreams: { g: { servers: [`http://127.0.0.1:${(dying.address() as AddressInfo).port}`, live.url] } },
    routes: [{ path: '/ws', upstream: 'g' }]
  })
  try {
    const { ws } = await openOn(`${proxy.wsBase}/ws`)
    const [code] = await onceWithin(ws, 'close') as [number]
    assert.equal(code, 1006, 'the client sees the connection drop')
    await waitFor(() => proxy.logs.some(line => line.msg === 'tunnel closed'), 'access log line')
    assert.equal(live.upgrades.length, 0, 'nothing was retried on the live server')
    assert.equal(proxy.logs.find(line => line.msg === 'tunnel closed')?.closedBy, 'upstream')
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
    await new Promise(resolve => dying.close(resolve))
  }
  await assertNoFdLeak(baseline)
})

test('R29 upgraded upstream sockets never go back to the keep-alive pool that plain HTTP requests reuse', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A')
  const [a] = list
  const proxy = await startProxy({
    upstreams: { g: { servers: [a.url], keepalive: 4 } },
    routes: [{ path: '/app/*', upstream: 'g', http: true }]
  })
  try {
    const first = await openOn(`${proxy.wsBase}/app/ws`)
    assert.equal(await echo(first.ws, 'one'), 'one')
    await closeWs(first.ws)
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(`${proxy.httpBase}/app/poll?i=${i}`)).status, 200)
    const second = await openOn(`${proxy.wsBase}/app/ws`)
    await closeWs(second.ws)
    for (let i = 0; i < 2; i++) assert.equal((await httpGet(`${proxy.httpBase}/app/poll?j=${i}`)).status, 200)

    const upgradeSockets = a.upgrades.map(req => req.socket)
    const httpSockets = new Set(a.requests.map(req => req.socket))
    assert.equal(upgradeSockets.length, 2)
    assert.notEqual(upgradeSockets[0], upgradeSockets[1], 'each upgrade had a fresh upstream connection')
    for (const socket of upgradeSockets) assert.ok(!httpSockets.has(socket), 'no HTTP request rode an upgraded connection')
    // The pool is real: sequential plain requests share one kept-alive connection.
    assert.equal(httpSockets.size, 1)
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})
