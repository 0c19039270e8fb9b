import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import { closeEchoBackends, startEchoBackend, startNamedEchoBackends } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  backendFor, closeWs, echo, httpGet, openOn, openWs, rawConnect, refusal, startProxy, tunnelLogs, upgradeHead,
  waitFor
} from './helpers/plugin-harness.js'
import { clientFrame } from './helpers/raw-http.js'
import { refusedUrl } from './helpers/stand-in-upstreams.js'

test('hooks: an onRequest hook answering 401 and a preHandler answering 403 refuse upgrades before any upstream connection', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  let backendConnections = 0
  backend.server.on('connection', () => { backendConnections++ })
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] }, {
    before: (app: FastifyInstance) => {
      app.addHook('onRequest', async (request, reply) => {
        if (request.headers.authorization !== 'Bearer good') return await reply.code(401).send({ error: 'who are you' })
      })
      app.addHook('preHandler', async (request, reply) => {
        if ((request.query as Record<string, string>).room === 'secret') return await reply.code(403).send({ error: 'not your room' })
      })
    }
  })
  try {
    const anonymous = await refusal(`${proxy.wsBase}/ws`)
    assert.equal(anonymous.status, 401)
    assert.match(anonymous.body, /who are you/)
    const forbidden = await refusal(`${proxy.wsBase}/ws?room=secret`, { headers: { authorization: 'Bearer good' } })
    assert.equal(forbidden.status, 403)
    assert.match(forbidden.body, /not your room/)
    assert.equal(backendConnections, 0, 'the backend saw no connection')
    const ws = await openWs(`${proxy.wsBase}/ws?room=lobby`, { headers: { authorization: 'Bearer good' } })
    assert.equal(await echo(ws, 'let in'), 'let in')
    assert.equal(backendConnections, 1)
    await closeWs(ws)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

async function addLocalWebSocketRoute (app: FastifyInstance): Promise<void> {
  await app.register(websocket)
  app.get('/local', { websocket: true }, (socket) => {
    socket.on('message', (data) => socket.send(`local:${String(data)}`))
  })
}

for (const order of ['before', 'after'] as const) {
  test(`coexistence: @fastify/websocket registered ${order} the plugin; both routes work, foreign paths are left alone`, async () => {
    const baseline = openFdCount()
    const backend = await startEchoBackend()
    const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] }, {
      [order]: addLocalWebSocketRoute
    })
    try {
      const proxied = await openWs(`${proxy.wsBase}/ws`)
      const local = await openWs(`${proxy.wsBase}/local`)
      assert.equal(await echo(proxied, 'p'), 'p')
      assert.equal(await echo(local, 'l'), 'local:l')
      assert.equal(backend.upgrades.length, 1, 'only the proxied route reached the backend')
      assert.equal((await refusal(`${proxy.wsBase}/nowhere`)).status, 404)
      await closeWs(proxied)
      await closeWs(local)
    } finally {
      await proxy.close()
      await backend.close()
    }
    await assertNoFdLeak(baseline)
  })
}

test('upgrades to paths the plugin does not own get the ordinary 404 when nobody else listens', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }, { path: '/rooms/*', upstream: 'b' }] })
  try {
    for (const path of ['/', '/ws/extra', '/wsx', '/rooms']) assert.equal((await refusal(`${proxy.wsBase}${path}`)).status, 404, path)
    const room = await openWs(`${proxy.wsBase}/rooms/42?x=1`)
    assert.equal(backend.upgrades[0].url, '/rooms/42?x=1')
    await closeWs(room)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('http: true with ip-hash keeps a client on one backend for its polling and its WebSocket; an unreachable upstream is 502', async () => {
  const baseline = openFdCount()
  const backends = await startNamedEchoBackends('A', 'B', 'C')
  const dead = await refusedUrl()
  const proxy = await startProxy({
    upstreams: { g: { balance: 'ip-hash', servers: backends.map(backend => backend.url) }, gone: { servers: [dead] } },
    routes: [{ path: '/socket.io/*', upstream: 'g', http: true }, { path: '/gone/*', upstream: 'gone', http: true }]
  })
  try {
    const used = new Set<string>()
    for (const third of [1, 2, 3, 4, 5, 6]) {
      const localAddress = `127.0.${third}.10`
      const poll = await httpGet(`${proxy.httpBase}/socket.io/?EIO=4&transport=polling`, { localAddress })
      assert.equal(poll.status, 200)
      const pollBackend = String(poll.headers['x-backend'])
      const wsBackend = await backendFor(`${proxy.wsBase}/socket.io/?EIO=4&transport=websocket`, { localAddress })
      assert.equal(wsBackend, pollBackend, `client ${localAddress}`)
      const again = await httpGet(`${proxy.httpBase}/socket.io/?EIO=4&transport=polling&sid=x`, { localAddress })
      assert.equal(again.headers['x-backend'], pollBackend)
      used.add(pollBackend)
    }
    assert.ok(used.size > 1, 'the clients spread over several backends')

    const unreachable = await httpGet(`${proxy.httpBase}/gone/poll`)
    assert.equal(unreachable.status, 502)
    assert.match(unreachable.body, /WS_CLUSTER_UPSTREAM_CONNECT_FAILED/)
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})

test('a plain GET to a WebSocket-only route gets 426 Upgrade Required naming websocket', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  try {
    const res = await httpGet(`${proxy.httpBase}/ws`)
    assert.equal(res.status, 426)
    assert.equal(res.headers.upgrade, 'websocket')
    assert.equal(backend.requests.length + backend.upgrades.length, 0)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('access log: one line per tunnel with route, upstream, client, status, duration, exact bytes each way, closedBy client/upstream', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend({ name: 'logged' })
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/chat/*', upstream: 'b' }] })
  try {
    // A raw client, so every byte it sent and got is known.
    const client: Socket = await rawConnect(proxy.port, '127.0.0.5')
    const got: Buffer[] = []
    client.on('data', (chunk: Buffer) => got.push(chunk))
    const head = upgradeHead('/chat/room1')
    const frame = clientFrame(1, Buffer.from('hello through the tunnel'))
    client.write(head)
    await waitFor(() => Buffer.concat(got).includes('\r\n\r\n'), '101 head')
    client.write(frame)
    // The echo: an unmasked frame of 2 + payload bytes.
    await waitFor(() => Buffer.concat(got).length >= Buffer.concat(got).indexOf('\r\n\r\n') + 4 + 2 + 24, 'echo frame')
    const ended = once(client, 'close')
    client.end()
    await ended
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'access log line')
    const line = tunnelLogs(proxy.logs)[0]
    assert.equal(line.route, '/chat/*')
    assert.equal(line.upstream, backend.url)
    assert.equal(line.client, '127.0.0.5')
    assert.equal(line.status, 101)
    assert.equal(typeof line.durationMs, 'number')
    assert.ok((line.durationMs as number) >= 0)
    assert.equal(line.bytesFromClient, head.length + frame.length)
    assert.equal(line.bytesToClient, Buffer.concat(got).length)
    assert.equal(line.closedBy, 'client')

    const { ws } = await openOn(`${proxy.wsBase}/chat/room2`)
    await waitFor(() => backend.sockets.size === 1, 'backend socket')
    for (const serverSide of backend.sockets) serverSide.terminate()
    await once(ws, 'close')
    await waitFor(() => tunnelLogs(proxy.logs).length === 2, 'second access log line')
    assert.equal(tunnelLogs(proxy.logs)[1].closedBy, 'upstream')

    // A handshake refused before any upstream (426: unsupported version) counts as failed, not as a tunnel.
    assert.equal((await refusal(`${proxy.wsBase}/chat/room3`, { protocolVersion: 8 })).status, 426)
    await waitFor(() => proxy.app.wsProxy.stats().connections.active === 0, 'client connections closed')
    const stats = proxy.app.wsProxy.stats()
    assert.deepEqual(
      { ...stats.connections },
      { active: 0, accepted: 3, handled: 3, dropped: 0, reading: 0, requests: 3, refused: 0, rateLimited: 0, rateTracked: 0, tunnelsOpen: 0, handshaking: 0 }
    )
    assert.equal(stats.routes['/chat/*'].failed, 1)
    assert.equal(stats.routes['/chat/*'].total, 2)
    assert.equal(stats.routes['/chat/*'].open, 0)
    assert.equal(stats.routes['/chat/*'].bytesFromClients, (line.bytesFromClient as number) + (tunnelLogs(proxy.logs)[1].bytesFromClient as number))
    assert.equal(stats.upstreams.b.servers[0].total, 2)
    assert.equal(stats.upstreams.b.servers[0].active, 0)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
