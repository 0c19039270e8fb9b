import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { WebSocket } from 'ws'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  echo, openWs, rawConnect, refusal, startProxy, tunnelLogs, upgradeHead, waitFor
} from './helpers/plugin-harness.js'
import { clientFrame } from './helpers/raw-http.js'
import { startNeverAcceptingUpstream, startSilentUpstream } from './helpers/stand-in-upstreams.js'
import { onceWithin } from './helpers/timing.js'

/** An upstream that reads `cutAfter` bytes of the request (and answers `partial`), then resets the connection. */
async function startResettingUpstream (partial: string): Promise<{ url: string, hits: () => number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let hits = 0
  const server = createNetServer((socket) => {
    hits++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.once('data', () => {
      if (partial === '') socket.resetAndDestroy()
      else socket.write(partial, () => socket.resetAndDestroy())
    })
  })
  server.listen(0, '127.0.0.1')
  await onceWithin(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

test('R38 clients resetting mid-request-head, right after it, and during the upstream handshake crash nothing and leak nothing', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const silent = await startSilentUpstream()
  const proxy = await startProxy({
    upstreams: { live: { servers: [backend.url] }, slow: { servers: [silent.url] } },
    routes: [{ path: '/ws', upstream: 'live' }, { path: '/slow', upstream: 'slow', handshakeTimeout: '30s' }],
    limits: { maxConnectionsPerIp: 1 }
  })
  try {
    const head = upgradeHead('/ws')
    for (let i = 0; i < 10; i++) {
      const half = await rawConnect(proxy.port)
      half.write(head.slice(0, 30 + i * 7))
      await new Promise(resolve => setTimeout(resolve, 5))
      half.resetAndDestroy()
      const whole = await rawConnect(proxy.port)
      whole.write(head)
      whole.resetAndDestroy()
    }
    // The peer vanishes while the upstream is still being asked.
    for (let i = 0; i < 5; i++) {
      const client = await rawConnect(proxy.port)
      client.write(upgradeHead('/slow'))
      await waitFor(() => silent.accepted() === i + 1, 'upstream connection made')
      // RST, FIN and FIN-after-destroy: every way a peer vanishes.
      if (i % 3 === 0) client.resetAndDestroy()
      else if (i % 3 === 1) client.end()
      else client.destroy()
      await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 0, 'attempt dropped')
    }
    assert.equal(silent.accepted(), 5)
    // maxConnectionsPerIp 1: every vanished client gave its slot back.
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'still serving'), 'still serving')
    const closed = onceWithin(ws, 'close')
    ws.terminate()
    await closed
    await waitFor(() => proxy.app.wsProxy.stats().connections.active === 0, 'every client connection gone')
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
    await silent.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 a client leaving while the upstream TCP connect is still pending drops the connect attempt (no fd waits for connectTimeout)', async () => {
  const baseline = openFdCount()
  const hanging = await startNeverAcceptingUpstream()
  const proxy = await startProxy({
    upstreams: { g: { servers: [hanging.url] } },
    routes: [{ path: '/ws', upstream: 'g', connectTimeout: '60s' }]
  })
  const proxyBaseline = openFdCount()
  try {
    for (let i = 0; i < 3; i++) {
      const client = await rawConnect(proxy.port)
      client.write(upgradeHead('/ws'))
      await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 1, 'connect in progress')
      // A reset, then the usual FIN of a closed client.
      if (i === 0) client.resetAndDestroy()
      else client.destroy()
      await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 0, 'attempt dropped')
    }
    // Well before the 60 s connectTimeout, the pending upstream sockets are gone too.
    await assertNoFdLeak(proxyBaseline)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await hanging.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 an upstream resetting mid-handshake (before or inside its answer head) gives 502, never a crash', async () => {
  const baseline = openFdCount()
  const silentReset = await startResettingUpstream('')
  const halfAnswer = await startResettingUpstream('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webso')
  const proxy = await startProxy({
    upstreams: { a: { servers: [silentReset.url] }, b: { servers: [halfAnswer.url] } },
    routes: [{ path: '/a', upstream: 'a' }, { path: '/b', upstream: 'b' }]
  })
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await refusal(`${proxy.wsBase}/a`)).status, 502)
      assert.equal((await refusal(`${proxy.wsBase}/b`)).status, 502)
    }
    assert.equal(silentReset.hits(), 3)
    assert.equal(halfAnswer.hits(), 3)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await silentReset.close()
    await halfAnswer.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 ECONNRESET inside open tunnels, from either side and with data in flight, closes both sockets and logs the tunnel', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  const payload = Buffer.alloc(256 * 1024, 1)
  try {
    // Client side resets while a large echo is on its way back.
    for (let i = 0; i < 3; i++) {
      const client = await rawConnect(proxy.port)
      client.write(upgradeHead('/ws'))
      await waitFor(() => backend.sockets.size === 1, 'backend socket')
      const [serverSide] = backend.sockets
      serverSide.send(payload)
      serverSide.send(payload)
      client.resetAndDestroy()
      await waitFor(() => backend.sockets.size === 0, 'backend side closed')
    }
    // Upstream side resets while the client is sending.
    for (let i = 0; i < 3; i++) {
      const ws = await openWs(`${proxy.wsBase}/ws`)
      await waitFor(() => backend.sockets.size === 1, 'backend socket')
      const [serverSide] = backend.sockets
      const closed = onceWithin(ws, 'close')
      ws.send(payload)
      ;(serverSide as WebSocket & { _socket: Socket })._socket.resetAndDestroy()
      ws.send(payload)
      await closed
      await waitFor(() => backend.sockets.size === 0, 'backend side closed')
    }
    await waitFor(() => tunnelLogs(proxy.logs).length === 6, 'six access log lines')
    const causes = tunnelLogs(proxy.logs).map(line => String(line.closedBy))
    assert.ok(causes.slice(0, 3).every(cause => cause.startsWith('client')), causes.join(' '))
    assert.ok(causes.slice(3).every(cause => cause.startsWith('upstream')), causes.join(' '))
    assert.equal(proxy.app.wsProxy.stats().connections.tunnelsOpen, 0)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R9 R38 bytes a client sends while the upstream is still deciding are kept and reach it after the 101', async () => {
  const baseline = openFdCount()
  // The backend takes 300 ms to accept each handshake.
  const backend = await startEchoBackend({ wsOptions: { verifyClient: (_info, done) => { setTimeout(() => done(true), 300) } } })
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  try {
    const client = await rawConnect(proxy.port)
    const got: Buffer[] = []
    client.on('data', (chunk: Buffer) => got.push(chunk))
    client.write(upgradeHead('/ws'))
    await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 1, 'handshake in progress')
    client.write(clientFrame(1, Buffer.from('early one')))
    await new Promise(resolve => setTimeout(resolve, 20))
    client.write(clientFrame(1, Buffer.from('early two')))
    // Unmasked echoes: 0x81, length, payload.
    const echoes = Buffer.concat([Buffer.from([0x81, 9]), Buffer.from('early one'), Buffer.from([0x81, 9]), Buffer.from('early two')])
    await waitFor(() => Buffer.concat(got).includes(echoes), 'both early frames echoed')
    assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 101 /)
    const closed = onceWithin(client, 'close')
    client.destroy()
    await closed
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 a client gone while a slow onRequest hook runs costs no lingering upstream attempt', async () => {
  const baseline = openFdCount()
  const silent = await startSilentUpstream()
  let hooksDone = 0
  const proxy = await startProxy({
    upstreams: { g: { servers: [silent.url] } },
    routes: [{ path: '/ws', upstream: 'g', handshakeTimeout: '60s' }]
  }, {
    before: (app) => {
      app.addHook('onRequest', async () => {
        await new Promise(resolve => setTimeout(resolve, 200))
        hooksDone++
      })
    }
  })
  try {
    const client = await rawConnect(proxy.port)
    client.write(upgradeHead('/ws'))
    await new Promise(resolve => setTimeout(resolve, 50))
    client.destroy()
    await waitFor(() => hooksDone === 1, 'hook finished')
    // Well before the 60 s handshakeTimeout.
    await waitFor(() => proxy.app.wsProxy.stats().connections.handshaking === 0, 'no attempt left', 3000)
    await waitFor(() => proxy.app.wsProxy.stats().connections.active === 0, 'client connection closed', 3000)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await silent.close()
  }
  await assertNoFdLeak(baseline)
})
