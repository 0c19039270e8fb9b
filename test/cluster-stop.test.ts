import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { runStateFor } from '../cluster/run-state.js'
import { startEchoBackend } from './helpers/backends.js'
import { useClusterRuns } from './helpers/cluster-fixture.js'
import { httpGet, makeClusterDir, runCli, startCluster, type RunningCluster } from './helpers/cluster-process.js'
import { WebSocket } from 'ws'
import { clientFrameHeader, RawClient, requestHead } from './helpers/raw-http.js'
import { closedWs, openWs, until } from './helpers/ws-clients.js'

const runs = useClusterRuns()
const { clusters, dirs } = runs

async function start (shutdownTimeout: string, server = runs.backend.url, extra: Record<string, unknown> = {}): Promise<{ cluster: RunningCluster, dir: string }> {
  const dir = makeClusterDir()
  dirs.push(dir)
  const cluster = await startCluster(dir.dir, {
    upstreams: { echo: { servers: [server] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: { port: 0 },
    workers: 2,
    shutdownTimeout,
    ...extra
  })
  clusters.push(cluster)
  return { cluster, dir: dir.dir }
}

/** Whether a TCP connection to the port is refused (the listener is closed). */
async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

/** Sends fragmented 256 KiB messages as fast as the socket takes them, until it closes. */
function streamFragments (ws: WebSocket): void {
  const fragment = Buffer.alloc(256 * 1024, 0x5a)
  let part = 0
  const pump = (): void => {
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) ws.send(fragment, { binary: true, fin: ++part % 4 === 0 })
    if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 2)
  }
  pump()
}

test('R39 R97 SIGTERM while large fragmented messages flow both ways: no new accepts, /readyz 503, every client gets 1001 with no protocol error, the backend a valid masked 1001, exit 0', async () => {
  const backendCodes: number[] = []
  const backendErrors: string[] = []
  const streaming = await startEchoBackend({
    echo: false,
    onConnection: (ws) => {
      ws.on('close', (code) => backendCodes.push(code))
      ws.on('error', (err) => backendErrors.push(err.message))
      streamFragments(ws)
    }
  })
  try {
    // Every client keeps megabytes on their way in both directions: its closing handshake may take a while to come through.
    const { cluster } = await start('15s', streaming.url, { closeSpread: '500ms' })
    const clients = await Promise.all(['127.0.12.1', '127.0.12.2', '127.0.12.3', '127.0.12.4'].map(async (localAddress) => await openWs(`ws://127.0.0.1:${cluster.port}/ws`, [], { localAddress })))
    const clientErrors: string[] = []
    const received = clients.map(() => 0)
    const codes = clients.map(async (ws, i) => {
      ws.on('error', (err) => clientErrors.push(err.message))
      ws.on('message', (data: Buffer) => { received[i] += data.length })
      streamFragments(ws)
      return (await once(ws, 'close') as [number])[0]
    })
    await until(() => received.every((bytes) => bytes > 2 * 1024 * 1024), 'messages flowing both ways', 30_000)
    // Bounded from the stop on, whatever the load made the flows take to start.
    const bound = setTimeout(() => { for (const ws of clients) ws.terminate() }, 30_000)
    cluster.child.kill('SIGTERM')
    await cluster.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('stopping'))
    let isRefused = false
    for (let i = 0; i < 40 && !isRefused; i++) {
      isRefused = await refused(cluster.port)
      if (!isRefused) await sleep(50)
    }
    assert.ok(isRefused, 'the client listener is closed')
    const ready = await httpGet(cluster.adminPort as number, '/readyz')
    assert.equal(ready.status, 503)
    assert.equal(ready.body.trim(), 'draining')
    const closeCodes = await Promise.all(codes)
    clearTimeout(bound)
    assert.deepEqual(closeCodes, [1001, 1001, 1001, 1001])
    assert.deepEqual(clientErrors, [], 'no client saw a protocol error')
    await until(() => backendCodes.length === 4, 'the backend sockets closed')
    assert.deepEqual(backendCodes, [1001, 1001, 1001, 1001])
    assert.deepEqual(backendErrors, [], 'the backend saw no protocol error')
    const { code } = await cluster.closed
    assert.equal(code, 0)
    assert.equal(cluster.logs.filter((line) => line.msg === 'tunnel closed' && line.closedBy === 'shutdown').length, 4)
  } finally {
    await streaming.close()
  }
})

test('R39 `ws-cluster stop` (twice at once) drains and exits 0; the pid file and control socket are removed', async () => {
  const { cluster, dir } = await start('1s')
  const tunnel = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
  const tunnelClosed = closedWs(tunnel, 20_000)
  const runState = runStateFor(join(dir, 'ws-cluster.config.json'), {}, dir)
  assert.ok(existsSync(runState.pidFile))
  // Two stop requests at once: both wait for the same graceful drain (no forced exit).
  const [stop, other] = await Promise.all([
    runCli(['stop', '--config', 'ws-cluster.config.json'], dir),
    runCli(['stop', '--config', 'ws-cluster.config.json'], dir)
  ])
  assert.equal(stop.code, 0, stop.stderr)
  assert.match(stop.stdout, /stopped/)
  assert.equal(other.code, 0, other.stderr)
  await tunnelClosed
  assert.equal((await cluster.closed).code, 0)
  assert.equal(existsSync(runState.pidFile), false)
  assert.equal(existsSync(runState.controlSocket ?? ''), false)
  const again = await runCli(['stop', '--config', 'ws-cluster.config.json'], dir)
  assert.equal(again.code, 1, 'nothing left to stop')
  assert.match(again.stderr, /no running ws-cluster found/)
})

test('R39 R65 a second signal more than a second later exits at once without waiting for the drain', async () => {
  const { cluster } = await start('60s')
  // A client in the middle of a long frame, which never answers the 1001 close frame, keeps its tunnel
  // open through the closing handshake (R97: 5 s, then a FIN): the drain takes a while.
  const client = await RawClient.open(cluster.port)
  try {
    client.write(requestHead())
    assert.equal((await client.head()).statusCode, 101)
    client.write(Buffer.concat([clientFrameHeader(2, 1_000_000), Buffer.alloc(1000)]))
    cluster.child.kill('SIGINT')
    await cluster.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('stopping'))
    // R65: only a signal clearly after the first one (over 1 s) means "now".
    await sleep(1200)
    cluster.child.kill('SIGINT')
    // Well within the 60 s drain: the forced exit does not wait for tunnels.
    const { code } = await cluster.closed
    assert.equal(code, 1)
    await client.untilClosed(20_000)
  } finally {
    await client.destroy()
  }
})

test('CLI usage errors exit 2; reload and status without a running cluster exit 1', async () => {
  const dir = makeClusterDir()
  dirs.push(dir)
  const usage = await runCli(['start', '--workers', 'lots'], dir.dir)
  assert.equal(usage.code, 2)
  const none = await runCli(['status'], dir.dir)
  assert.equal(none.code, 1)
  assert.match(none.stderr, /no running ws-cluster found/)
  const noConfig = await runCli(['start'], dir.dir)
  assert.equal(noConfig.code, 1)
  assert.match(noConfig.stderr, /ws-cluster\.config\.json/)
  const help = await runCli(['reload', '--help'], dir.dir)
  assert.equal(help.code, 0)
  assert.match(help.stdout, /reload/)
})

test('R41 start exits 1 when a worker cannot start (the user app throws), after stopping the others', async () => {
  const dir = makeClusterDir()
  dirs.push(dir)
  writeFileSync(join(dir.dir, 'broken-app.mjs'), 'export default async function broken () { throw new Error(\'broken user app\') }\n')
  writeFileSync(join(dir.dir, 'ws-cluster.config.json'), JSON.stringify({
    upstreams: { echo: { servers: [runs.backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: false,
    workers: 2,
    app: 'broken-app.mjs'
  }))
  const result = await runCli(['start'], dir.dir)
  assert.equal(result.code, 1)
  assert.match(result.stdout, /broken user app/)
  assert.match(result.stdout, /ws-cluster could not start/)
})

test('R42 /readyz answers 503 "starting" while workers boot, then 200', async () => {
  const dir = makeClusterDir()
  dirs.push(dir)
  // The user app holds worker start-up until the test has looked at /readyz.
  writeFileSync(join(dir.dir, 'slow-app.mjs'), `import { once } from 'node:events'
import { existsSync } from 'node:fs'
export default async function slow () {
  while (!existsSync(${JSON.stringify(join(dir.dir, 'go'))})) await new Promise((resolve) => setTimeout(resolve, 20))
}
`)
  const cluster = await startCluster(dir.dir, {
    upstreams: { echo: { servers: [runs.backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: { port: 0 },
    workers: 1,
    app: 'slow-app.mjs'
  }, [], {}, 'admin listening')
  clusters.push(cluster)
  const adminPort = cluster.adminPort as number
  assert.equal((await httpGet(adminPort, '/livez')).status, 200)
  const starting = await httpGet(adminPort, '/readyz')
  assert.equal(starting.status, 503)
  assert.equal(starting.body.trim(), 'starting')
  writeFileSync(join(dir.dir, 'go'), '')
  await cluster.waitForLog((line) => line.msg === 'ws-cluster ready')
  assert.equal((await httpGet(adminPort, '/readyz')).status, 200)
})
