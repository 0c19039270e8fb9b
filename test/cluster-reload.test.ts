import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { runCli, whoami } from './helpers/cluster-process.js'
import { closedWs, closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

const fixture = useWhoamiCluster({
  backends: [{ name: 'first' }, { name: 'second' }],
  config: () => ({ shutdownTimeout: '2s' })
})

function writeConfig (value: unknown): void {
  writeFileSync(join(fixture.dir, 'ws-cluster.config.json'), JSON.stringify(value, null, 2))
}

test('R40 reload under a steady stream of new connections: none refused, workers replaced, the new config applies, old tunnels drain', async () => {
  const addresses = ['127.0.7.1', '127.0.7.2', '127.0.7.3', '127.0.7.4', '127.0.7.5', '127.0.7.6']
  const oldPids = new Set(await Promise.all(addresses.map(async (a) => (await whoami(fixture.cluster.port, a)).pid)))
  const longLived = await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`)
  const longClosed = closedWs(longLived, 20_000)

  const streaming = { on: true }
  let ok = 0
  const failures: string[] = []
  const stream = (async () => {
    for (let i = 0; streaming.on; i++) {
      try {
        const ws = await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`, [], { localAddress: addresses[i % addresses.length] })
        assert.equal(await echoOnce(ws, `m${i}`), `m${i}`)
        await closeWs(ws)
        ok++
      } catch (err) {
        failures.push((err as Error).message)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()

  writeConfig({ ...fixture.config, upstreams: { echo: { servers: [fixture.backends[1].url] } } })
  const reload = await runCli(['reload', '--config', 'ws-cluster.config.json'], fixture.dir)
  assert.equal(reload.code, 0, reload.stderr)
  assert.match(reload.stdout, /reloaded: 2 worker\(s\) replaced/)
  // The old worker is draining: its tunnel still works for now.
  assert.equal(await echoOnce(longLived, 'during drain'), 'during drain')
  await new Promise((resolve) => setTimeout(resolve, 300))
  streaming.on = false
  await stream
  assert.deepEqual(failures, [], 'no connection failed during the reload')
  assert.ok(ok >= 5, `the stream made progress (${ok} connections)`)

  const newPids = new Set(await Promise.all(addresses.map(async (a) => (await whoami(fixture.cluster.port, a)).pid)))
  for (const pid of newPids) assert.ok(!oldPids.has(pid), 'every slot got a new worker')
  const fresh = await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`)
  assert.equal(await echoOnce(fresh, 'new config'), 'new config')
  assert.ok(fixture.backends[1].upgrades.length >= 1, 'new connections go to the upstream of the new config')
  await closeWs(fresh)

  // R39 drain of the old worker: the long-lived tunnel is closed once shutdownTimeout is over.
  await longClosed
})

test('R40 an invalid config on reload is rejected with its problems; the running workers stay', async () => {
  const before = (await whoami(fixture.cluster.port, '127.0.7.9')).pid
  writeConfig({ ...fixture.config, routes: [{ path: '/ws', upstream: 'nope' }] })
  try {
    const reload = await runCli(['reload', '--config', 'ws-cluster.config.json'], fixture.dir)
    assert.equal(reload.code, 1)
    assert.match(reload.stderr, /routes\[0\]\.upstream/)
    assert.equal((await whoami(fixture.cluster.port, '127.0.7.9')).pid, before)
    await fixture.cluster.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('reload rejected'))
  } finally {
    writeConfig(fixture.config)
  }
})

test('R40 SIGHUP reloads too', async () => {
  const before = (await whoami(fixture.cluster.port, '127.0.7.10')).pid
  const completed = fixture.cluster.logs.filter((line) => line.msg === 'reload complete').length
  process.kill(fixture.cluster.child.pid as number, 'SIGHUP')
  await fixture.cluster.waitForLog(() => fixture.cluster.logs.filter((line) => line.msg === 'reload complete').length > completed, 20_000)
  assert.notEqual((await whoami(fixture.cluster.port, '127.0.7.10')).pid, before)
})
