import { test } from 'node:test'
import assert from 'node:assert/strict'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { whoami } from './helpers/cluster-process.js'
import { RawClient, parseResponseHead, requestHead } from './helpers/raw-http.js'

// Edge hardening, failures 1 and 2 through the real cluster. Workers receive
// sockets with emit('connection') and never listen, so Node's request-head
// timeout never ran: a connection that sent nothing stayed open forever.

const HEADERS_TIMEOUT_MS = 2000

const fixture = useWhoamiCluster({
  config: () => ({ workers: 1, headersTimeout: `${HEADERS_TIMEOUT_MS}ms` })
})

async function rawFrom (localAddress: string): Promise<RawClient> {
  return await RawClient.open(fixture.cluster.port, { localAddress })
}

test('R20 a silent connection, half a request head and a trickled head are each answered 408 and closed within headersTimeout', async () => {
  const silent = await rawFrom('127.0.4.1')
  const half = await rawFrom('127.0.4.2')
  const trickle = await rawFrom('127.0.4.3')
  const started = Date.now()
  half.write('GET /ws HTTP/1.1\r\nHo')
  trickle.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  // A byte every 300 ms keeps a socket timeout alive forever; it must not extend the head timeout.
  const drip = setInterval(() => { if (!trickle.closed) trickle.write('X-Drip: 1\r\n') }, 300)
  try {
    const closedAfter = await Promise.all([silent, half, trickle].map(async (client) => {
      await client.untilClosed(HEADERS_TIMEOUT_MS + 6000)
      return Date.now() - started
    }))
    for (const [i, ms] of closedAfter.entries()) {
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 100, `client ${i} closed after ${ms} ms, before headersTimeout`)
      assert.ok(ms <= HEADERS_TIMEOUT_MS + 3000, `client ${i} closed after ${ms} ms, well past headersTimeout`)
    }
    for (const client of [half, trickle]) {
      assert.equal(parseResponseHead(client.received)?.statusCode, 408, 'a client that started a request is told why')
    }
  } finally {
    clearInterval(drip)
    for (const client of [silent, half, trickle]) await client.destroy()
  }
})

test('R38 one packet with a plain request pipelined before an upgrade does not kill the worker', async () => {
  const pid = (await whoami(fixture.cluster.port, '127.0.6.1')).pid
  const client = await rawFrom('127.0.6.1')
  try {
    client.write(`GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${requestHead({ path: '/ws' })}`)
    await client.waitFor(bytes => bytes.includes('101 Switching Protocols'), 'the 101 after the plain answer')
    assert.match(client.received.toString('latin1'), /^HTTP\/1\.1 200 /, 'the plain request was answered first')
  } finally {
    await client.destroy()
  }
  assert.equal((await whoami(fixture.cluster.port, '127.0.6.1')).pid, pid, 'the same worker still serves')
})
