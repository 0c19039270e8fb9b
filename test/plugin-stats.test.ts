import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, openWs, refusal, startProxy, tunnelLogs, waitFor } from './helpers/plugin-harness.js'

// R90, R91: what stats() counts that it did not before — upgrades a user
// hook answered, and the bytes of tunnels that are still open.

test('R90 an upgrade answered by a user hook registered before the plugin is counted: requests, the route\'s failed and refusedByHooks, the total', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }, { path: '/other', upstream: 'b' }] }, {
    before: (app) => {
      app.addHook('onRequest', async (request, reply) => {
        if (!request.url.includes('token=ok')) return await reply.code(401).send({ error: 'Unauthorized' })
      })
    }
  })
  try {
    assert.equal((await refusal(`${proxy.wsBase}/ws`)).status, 401)
    assert.equal((await refusal(`${proxy.wsBase}/ws?token=no`)).status, 401)
    // Refused by the plugin itself (bad version): failed, but not by a hook.
    assert.equal((await refusal(`${proxy.wsBase}/ws?token=ok`, { protocolVersion: 8 })).status, 426)
    const ws = await openWs(`${proxy.wsBase}/ws?token=ok`)
    await closeWs(ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'tunnel closed')

    const stats = proxy.app.wsProxy.stats()
    assert.equal(stats.connections.requests, 4, 'every upgrade request is counted, the refused ones too')
    assert.equal(stats.connections.refusedByHooks, 2)
    assert.deepEqual(
      { failed: stats.routes['/ws'].failed, refusedByHooks: stats.routes['/ws'].refusedByHooks, total: stats.routes['/ws'].total },
      { failed: 3, refusedByHooks: 2, total: 1 }
    )
    assert.equal(stats.routes['/other'].refusedByHooks, 0, 'counted on the route the upgrade was for')
    assert.equal(backend.upgrades.length, 1, 'the refused upgrades never reached the upstream')
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R91 a tunnel\'s bytes show in stats() while it is open, equal to what its client sent and read; after it closes they equal the access log', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  try {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    const socket = (ws as unknown as { _socket: Socket })._socket
    const route = (): { bytesFromClients: number, bytesToClients: number } => proxy.app.wsProxy.stats().routes['/ws']
    for (let i = 0; i < 3; i++) assert.equal(await echo(ws, 'x'.repeat(10_000)), 'x'.repeat(10_000))
    // The client wrote its request head and three frames; the proxy wrote the 101 and three echoes: all of it arrived.
    await waitFor(() => route().bytesFromClients === socket.bytesWritten && route().bytesToClients === socket.bytesRead,
      `open-tunnel bytes ${JSON.stringify(route())} = client socket ${socket.bytesWritten}/${socket.bytesRead}`)
    assert.ok(socket.bytesWritten > 30_000 && socket.bytesRead > 30_000)
    assert.equal(proxy.app.wsProxy.stats().connections.tunnelsOpen, 1, 'counted while the tunnel is still open')

    await closeWs(ws)
    await waitFor(() => tunnelLogs(proxy.logs).length === 1, 'access-log line')
    const [line] = tunnelLogs(proxy.logs)
    assert.deepEqual(route(), { ...route(), bytesFromClients: line.bytesFromClient, bytesToClients: line.bytesToClient })
    assert.ok((line.bytesFromClient as number) >= socket.bytesWritten, 'nothing counted twice or lost at close')
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
