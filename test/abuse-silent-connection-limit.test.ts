import { test } from 'node:test'
import assert from 'node:assert/strict'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { runCli } from './helpers/cluster-process.js'
import { RawClient } from './helpers/raw-http.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

// Edge hardening, failure 2: connections that have not sent a request yet
// count against the per-IP limit in the cluster. Its own cluster with the
// default 60 s head timeout, so the held connections are not closed by the
// timeout while the test reads the status (under load that takes seconds).

const fixture = useWhoamiCluster({
  config: () => ({ workers: 1, limits: { maxConnectionsPerIp: 3 } })
})

interface Status { connections: { reading: number, dropped: number } }

async function status (): Promise<Status> {
  const result = await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], fixture.dir)
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout) as Status
}

async function rawFrom (localAddress: string): Promise<RawClient> {
  return await RawClient.open(fixture.cluster.port, { localAddress })
}

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
