import { test } from 'node:test'
import assert from 'node:assert/strict'
import fastifyWebsocket from '@fastify/websocket'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { wsProxy } from '../plugin/index.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxyFixture } from './helpers/proxy-fixture.js'
import { clientFrame, parseResponseHead, RawClient, requestHead, serverFrame } from './helpers/raw-http.js'

// Edge hardening, failure 1: a plain request pipelined before an upgrade in
// one packet made the second ServerResponse throw ERR_HTTP_SOCKET_ASSIGNED
// inside the 'upgrade' listener, which killed the process. Pipelined
// requests are now answered in order.

const plainGet = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`

/** Every response head in `bytes`, in order (bodies are skipped by Content-Length). */
function statusSequence (bytes: Buffer): number[] {
  const statuses: number[] = []
  let rest = bytes
  for (;;) {
    const head = parseResponseHead(rest)
    if (head === null) return statuses
    statuses.push(head.statusCode)
    if (head.statusCode === 101) return statuses
    const length = Number(head.headers.find(([name]) => name.toLowerCase() === 'content-length')?.[1] ?? 0)
    rest = rest.subarray(head.length + length)
  }
}

test('R38 a plain GET pipelined before an upgrade in one write: 200 then 101, the tunnel works, nothing crashes', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture({ route: { http: true } })
  const client = await RawClient.open(proxy.port)
  try {
    client.write(plainGet('/ws') + requestHead({ path: '/ws' }))
    await client.waitFor(bytes => statusSequence(bytes).includes(101), 'the 101 after the first answer')
    assert.deepEqual(statusSequence(client.received), [200, 101], 'answers in request order')
    const before = client.received.length
    client.write(clientFrame(1, Buffer.from('after pipelining')))
    const echoed = serverFrame(1, Buffer.from('after pipelining'))
    await client.waitFor(bytes => bytes.subarray(before).includes(echoed), 'the echo through the tunnel')
  } finally {
    await client.destroy()
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 pipelined requests to every kind of path (claimed, unclaimed, bad) are answered in order and the server keeps serving', async () => {
  const baseline = openFdCount()
  const proxy = await startProxyFixture()
  try {
    const cases: Array<{ bytes: string, expected: number[] }> = [
      // Unclaimed path, nobody else listens for upgrades: routed as a plain request (404).
      { bytes: plainGet('/nope') + plainGet('/nope') + requestHead({ path: '/elsewhere' }), expected: [404, 404, 404] },
      // A WebSocket-only route: the plain request gets 426, the malformed upgrade 400.
      { bytes: plainGet('/ws') + requestHead({ path: '/ws', bare: true, headers: ['Upgrade: websocket', 'Connection: Upgrade'] }), expected: [426, 400] }
    ]
    for (const { bytes, expected } of cases) {
      const client = await RawClient.open(proxy.port)
      try {
        client.write(bytes)
        const all = await client.untilClosed(10_000)
        assert.deepEqual(statusSequence(all), expected)
      } finally {
        await client.destroy()
      }
    }
    // A client that pipelines and leaves before the first answer is out.
    for (let i = 0; i < 5; i++) {
      const client = await RawClient.open(proxy.port)
      client.write(plainGet('/ws') + requestHead({ path: '/ws' }))
      await client.destroy()
    }
    const client = await RawClient.open(proxy.port)
    client.write(requestHead({ path: '/ws' }))
    assert.equal((await client.head()).statusCode, 101, 'still serving after the hostile clients')
    await client.destroy()
  } finally {
    await proxy.close()
  }
  await assertNoFdLeak(baseline)
})

test('R38 an upgrade pipelined to a @fastify/websocket route on the same server is answered after the plain request, without a crash', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const app = Fastify({ logger: false })
  await app.register(fastifyWebsocket)
  app.get('/hello', async () => 'hi')
  app.register(async (scope) => {
    scope.get('/local', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer) => socket.send(`local:${data.toString()}`))
    })
  })
  await app.register(wsProxy, { upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], shutdownTimeout: 500 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const client = await RawClient.open(port)
  try {
    client.write(plainGet('/hello') + requestHead({ path: '/local' }))
    await client.waitFor(bytes => statusSequence(bytes).includes(101), 'the 101 from @fastify/websocket')
    assert.deepEqual(statusSequence(client.received), [200, 101])
  } finally {
    await client.destroy()
    await app.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
