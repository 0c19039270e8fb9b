import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { useClusterRuns } from './helpers/cluster-fixture.js'
import { makeClusterDir, startCluster, type RunningCluster, type StartOptions } from './helpers/cluster-process.js'
import { makeNpxProject, processesWithEnv } from './helpers/npx-project.js'
import { closedWs, echoOnce, openWs } from './helpers/ws-clients.js'

// R65 (signals from supervisors) and R66 (`npx ws-cluster start` under a supervisor).

const MARKER = 'WS_CLUSTER_TEST_MARKER'
const runs = useClusterRuns()
const { clusters, dirs } = runs

interface Started { cluster: RunningCluster, marker: string }

async function start (options: StartOptions, npx = false): Promise<Started> {
  const dir = makeClusterDir()
  dirs.push(dir)
  if (npx) makeNpxProject(dir.dir)
  const marker = randomUUID()
  const cluster = await startCluster(dir.dir, {
    upstreams: { echo: { servers: [runs.backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: false,
    workers: 2,
    shutdownTimeout: '3s'
  }, [], { [MARKER]: marker }, 'ws-cluster ready', {
    detached: true,
    ...options,
    ...(npx ? { command: (configFile: string) => ({ file: 'npx', args: ['--no-install', 'ws-cluster', 'start', '--config', configFile] }) } : {})
  })
  clusters.push(cluster)
  return { cluster, marker }
}

/** Resolves once no process carries the marker, or rejects after `timeoutMs`. */
async function nothingLeft (marker: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let left = processesWithEnv(MARKER, marker)
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100)
    left = processesWithEnv(MARKER, marker)
  }
  assert.deepEqual(left, [], `processes left behind: ${left.join(', ')}`)
}

/** The tunnel keeps working during the drain, then it ends; the logs say the cluster stopped gracefully. */
async function assertDrained ({ cluster, marker }: Started, tunnel: Awaited<ReturnType<typeof openWs>>, tunnelClosed: Promise<number>): Promise<void> {
  await cluster.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('stopping'))
  await sleep(500)
  assert.equal(await echoOnce(tunnel, 'still draining'), 'still draining', 'no forced exit: the tunnel still works')
  await tunnelClosed
  await cluster.waitForLog((line) => line.msg === 'stopped', 15_000)
  assert.equal(cluster.logs.some((line) => typeof line.msg === 'string' && line.msg.startsWith('second stop signal')), false)
  await nothingLeft(marker, 10_000)
}

test('R39 R65 SIGTERM to the primary and to its process group at the same instant drains fully and exits 0', async () => {
  const started = await start({})
  const { cluster } = started
  const tunnel = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
  const tunnelClosed = closedWs(tunnel, 20_000)
  const pid = cluster.child.pid as number
  process.kill(pid, 'SIGTERM')
  // Two signals sent in the very same instant may merge into one in the kernel; 50 ms apart they arrive as two.
  await sleep(50)
  process.kill(-pid, 'SIGTERM')
  await assertDrained(started, tunnel, tunnelClosed)
  assert.equal((await cluster.closed).code, 0)
  assert.ok(cluster.logs.some((line) => typeof line.msg === 'string' && line.msg.startsWith('stop signal repeated at once')))
})

test('R39 R66 SIGTERM to the process `npx ws-cluster start` started drains the cluster and leaves no process behind', async () => {
  const started = await start({}, true)
  const { cluster } = started
  const tunnel = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
  const tunnelClosed = closedWs(tunnel, 20_000)
  cluster.child.kill('SIGTERM')
  await assertDrained(started, tunnel, tunnelClosed)
  const { code, signal } = await cluster.closed
  // npm itself answers SIGTERM with 143 at once; what counts is that the cluster drained and is gone.
  assert.ok(code === 0 || code === 143 || signal === 'SIGTERM', `npx ended with ${String(code)} ${String(signal)}`)
})

test('R39 R66 SIGTERM to npx and its whole process group at once: a full drain, not a forced exit', async () => {
  const started = await start({}, true)
  const { cluster } = started
  const tunnel = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
  const tunnelClosed = closedWs(tunnel, 20_000)
  const pid = cluster.child.pid as number
  process.kill(pid, 'SIGTERM')
  await sleep(50)
  process.kill(-pid, 'SIGTERM')
  await assertDrained(started, tunnel, tunnelClosed)
})

test('R66 when the npx wrapper is SIGKILLed the orphaned cluster notices and stops gracefully by itself', async () => {
  const started = await start({}, true)
  const { cluster, marker } = started
  const tunnel = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
  const tunnelClosed = closedWs(tunnel, 20_000)
  const killedAt = Date.now()
  cluster.child.kill('SIGKILL')
  const orphaned = await cluster.waitForLog((line) => line.msg === 'ws-cluster was orphaned by its wrapper; stopping gracefully', 5000)
  assert.match(String(orphaned.reason), /wrapper process \d+ that started ws-cluster exited/)
  assert.ok(Date.now() - killedAt < 5000)
  await assertDrained(started, tunnel, tunnelClosed)
  await nothingLeft(marker, 10_000)
})
