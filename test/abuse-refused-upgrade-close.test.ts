import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { LINGER_MS } from '../plugin/upgrade/lingering-close.js'
import { startRawBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { RawClient, requestHead } from './helpers/raw-http.js'

// Edge hardening, failure 3: an upgrade answered with an HTTP status (by the
// proxy or relayed from the upstream) only had its socket end()ed, so a
// client that never closed its half held the descriptor forever. Now the
// close lingers at most LINGER_MS, like nginx's lingering close.

interface Case { name: string, head: string, status: number, from?: string }

const CASES: Case[] = [
  { name: 'unknown path', head: requestHead({ path: '/nowhere' }), status: 404 },
  { name: 'bad key', head: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: short', 'Sec-WebSocket-Version: 13'] }), status: 400 },
  { name: 'old version', head: requestHead({ bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 8'] }), status: 426 },
  { name: 'upstream refusal relayed', head: requestHead({ path: '/ws', headers: ['X-Refuse: 1'] }), status: 403 },
  // 127.0.0.2 already holds its one slot (maxConnectionsPerIp 1) with a handshake the upstream never answers.
  { name: 'over the per-IP limit', head: requestHead({ path: '/ws' }), status: 503, from: '127.0.0.2' }
]

test('R38 refused upgrades: a client that never closes its half is closed by the proxy within the linger bound, each with its status', async () => {
  const baseline = openFdCount()
  const held = new Set<Socket>()
  const upstream = await startRawBackend(({ socket, head }) => {
    if (/x-refuse/i.test(head)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno')
      return
    }
    // Never answers: the first upgrade holds the only per-IP slot while its handshake waits.
    held.add(socket)
  })
  const proxy = await startProxyFixture({ backends: 0, servers: [upstream.url], limits: { maxConnectionsPerIp: 1 }, route: { handshakeTimeout: '20s' } })
  const holder = await RawClient.open(proxy.port, { localAddress: '127.0.0.2' })
  holder.write(requestHead({ path: '/ws' }))
  const clients: RawClient[] = []
  /** The proxy's side of `client`'s connection, once it was accepted. */
  const acceptedSocketOf = async (client: RawClient): Promise<Socket> => {
    for (let tries = 0; tries < 200; tries++) {
      const found = proxy.clientSockets.find(s => s.remotePort === client.socket.localPort && s.remoteAddress === client.socket.localAddress)
      if (found !== undefined) return found
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    throw new Error('the proxy never accepted the connection')
  }
  try {
    while (held.size === 0) await new Promise(resolve => setTimeout(resolve, 10))
    const started = Date.now()
    const closedAt: number[] = []
    // One address per case: maxConnectionsPerIp also bounds connections that have not sent their request yet.
    await Promise.all(CASES.map(async ({ name, head, status, from }, i) => {
      const client = await RawClient.open(proxy.port, { allowHalfOpen: true, localAddress: from ?? `127.0.1.${i + 1}` })
      clients.push(client)
      const accepted = await acceptedSocketOf(client)
      client.write(head)
      const answer = await client.head(5000)
      assert.equal(answer.statusCode, status, name)
      await client.waitFor(() => client.ended, `${name}: the proxy's FIN after its answer`)
      // The client keeps its own half open; the proxy's socket must still go away.
      if (!accepted.destroyed) {
        const timeout = AbortSignal.timeout(LINGER_MS + 3000)
        await once(accepted, 'close', { signal: timeout }).catch(() => assert.fail(`${name}: the proxy kept the connection open`))
      }
      closedAt.push(Date.now() - started)
    }))
    assert.equal(closedAt.length, CASES.length)
    for (const ms of closedAt) {
      assert.ok(ms <= LINGER_MS + 2000, `a refused connection lingered ${ms} ms`)
      assert.ok(ms >= LINGER_MS - 500, `a refused connection was cut after ${ms} ms instead of given the linger time`)
    }
  } finally {
    for (const client of clients) await client.destroy()
    await holder.destroy()
    for (const socket of held) socket.destroy()
    await proxy.close()
    await upstream.close()
  }
  await assertNoFdLeak(baseline)
})
