import { test } from 'node:test'
import assert from 'node:assert/strict'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { runCli, whoami } from './helpers/cluster-process.js'
import { RawClient, parseResponseHead, requestHead } from './helpers/raw-http.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

// Edge hardening, failures 1 and 2 through the real cluster. Workers receive
// sockets with emit('connection') and never listen, so Node's request-head
// timeout never ran: a connection that sent nothing stayed open forever.

const HEADERS_TIMEOUT_MS = 2000

const fixture = useWhoamiCluster({
  config: () => ({ workers: 1, headersTimeout: `${HEADERS_TIMEOUT_MS}ms`, limits: { maxConnectionsPerIp: 3 } })
})

interface Status { connections: { reading: number, dropped: number, active: number }, workers: Array<{ pid: number }> }

async function status (): Promise<Status> {
  const result = await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], fixture.dir)
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout) as Status
}

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

test('R35 silent connections count against maxConnectionsPerIp: past it one address gets closed at accept, others are served', async () => {
  const before = await status()
  const held: RawClient[] = []
  try {
    for (let i = 0; i < 3; i++) held.push(await rawFrom('127.0.5.1'))
    // Connect order is not hand-off order: wait until the worker counts all three.
    for (let tries = 0; (await status()).connections.reading < 3 && tries < 50; tries++) await new Promise(resolve => setTimeout(resolve, 50))
    const extra = await rawFrom('127.0.5.1')
    const closed = await extra.untilClosed(3000)
    assert.equal(closed.length, 0, 'closed at accept without a byte')
    const other = await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`, [], { localAddress: '127.0.5.2' })
    assert.equal(await echoOnce(other, 'served'), 'served', 'another address is served meanwhile')
    await closeWs(other)
    const now = await status()
    assert.equal(now.connections.reading, 3)
    assert.equal(now.connections.dropped - before.connections.dropped, 1)
  } finally {
    for (const client of held) await client.destroy()
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
