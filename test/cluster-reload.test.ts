import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import type { StatusReport } from '../cluster/status-report.js'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet, runCli, whoami } from './helpers/cluster-process.js'
import { closedWs, closeWs, echoOnce, openWs, until } from './helpers/ws-clients.js'

// R40 and the reload lines R99-R102: a reload applies the new config in
// place where it can; tunnels end only when their server left the config,
// or when workers had to be replaced and their drainTimeout passed.

const fixture = useWhoamiCluster({
  backends: [{ name: 'first' }, { name: 'second' }],
  config: () => ({ shutdownTimeout: '1s', drainTimeout: '10s', closeSpread: '1500ms', admin: { port: 0, host: '127.0.0.1' } })
})

function writeConfig (value: Record<string, unknown>): void {
  writeFileSync(join(fixture.dir, 'ws-cluster.config.json'), JSON.stringify(value, null, 2))
}

async function reload (): Promise<string> {
  const result = await runCli(['reload', '--config', 'ws-cluster.config.json'], fixture.dir)
  assert.equal(result.code, 0, result.stderr)
  return result.stdout
}

async function status (): Promise<StatusReport> {
  return JSON.parse((await httpGet(fixture.cluster.adminPort as number, '/status')).body) as StatusReport
}

function url (): string {
  return `ws://127.0.0.1:${fixture.cluster.port}/ws`
}

/** A WebSocket from `localAddress` and the backend it reached (the echo backends name themselves in the 101). */
async function openOn (localAddress: string): Promise<{ ws: WebSocket, backend: string }> {
  let backend = ''
  const ws = new WebSocket(url(), { localAddress })
  ws.once('upgrade', (res: IncomingMessage) => { backend = String(res.headers['x-backend']) })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return { ws, backend }
}

/** Client addresses whose sticky worker is `slot`, `count` of them. */
async function addressesOnSlot (slot: number, count: number, base: string): Promise<string[]> {
  const found: string[] = []
  for (let i = 1; found.length < count && i < 200; i++) {
    const address = `${base}.${i}`
    if ((await whoami(fixture.cluster.port, address)).slot === slot) found.push(address)
  }
  return found
}

/** A client sending numbered messages every few ms and checking that the echoes come back complete and in order. */
function sequencedClient (ws: WebSocket, id: number): { stop: () => void, problems: string[], echoed: () => number, closed: () => boolean } {
  let sent = 0
  let next = 0
  let closed = false
  const problems: string[] = []
  ws.on('message', (data) => {
    const [from, seq] = String(data).split(':').map(Number)
    if (from !== id || seq !== next) problems.push(`client ${id} expected ${next}, got ${String(data)}`)
    next = (seq ?? next) + 1
  })
  ws.on('close', (code) => {
    closed = true
    problems.push(`client ${id} closed with ${code}`)
  })
  const timer = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send(`${id}:${sent++}`) }, 10)
  return { stop: () => clearInterval(timer), problems, echoed: () => next, closed: () => closed }
}

test('R40 R99 reload in place under load: numbered messages lose nothing and keep their order across several reloads; the workers are not replaced; no new connection is refused', async () => {
  const before = await status()
  const clients = await Promise.all(Array.from({ length: 8 }, async (_, i) => await openWs(url(), [], { localAddress: `127.0.8.${i + 1}` })))
  const sequenced = clients.map((ws, i) => sequencedClient(ws, i))
  const streaming = { on: true }
  const refusals: string[] = []
  let opened = 0
  const stream = (async () => {
    for (let i = 0; streaming.on; i++) {
      try {
        const ws = await openWs(url(), [], { localAddress: `127.0.8.${20 + (i % 6)}` })
        assert.equal(await echoOnce(ws, `n${i}`), `n${i}`)
        await closeWs(ws)
        opened++
      } catch (err) {
        refusals.push((err as Error).message)
      }
    }
  })()
  try {
    const reloads: string[] = []
    const { config } = fixture
    const servers = [fixture.backends[0].url, fixture.backends[1].url]
    writeConfig({ ...config, routes: [{ path: '/ws', upstream: 'echo', idleTimeout: '2h' }] })
    reloads.push(await reload())
    writeConfig({ ...config, upstreams: { echo: { servers } }, routes: [{ path: '/ws', upstream: 'echo', idleTimeout: '2h' }] })
    reloads.push(await reload())
    writeConfig({ ...config, upstreams: { echo: { servers, balance: 'least-conn' } }, limits: { maxConnectionsPerIp: 50 }, workers: 3 })
    reloads.push(await reload())
    for (const output of reloads) assert.match(output, /^reloaded in place: 2 worker\(s\) applied the new config; open connections kept$/m)
    assert.match(reloads[0], /changed routes\[0\]\.idleTimeout: 3600000 → 7200000/)
    assert.match(reloads[1], /changed upstreams\.echo\.servers: added http:\/\/127\.0\.0\.1:\d+/)
    assert.match(reloads[2], /changed upstreams\.echo\.balance: round-robin → least-conn/)
    // The worker count is bound at start (slots of the sticky hash): a restart applies it, and says so.
    assert.match(reloads[2], /not applied until a restart: workers/)
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    streaming.on = false
    await stream
    for (const client of sequenced) client.stop()
  }
  await until(() => sequenced.every((client) => client.echoed() > 50), 'every client got its echoes', 10_000)
  assert.deepEqual(sequenced.flatMap((client) => client.problems), [], 'no message lost, duplicated or reordered, no client closed')
  assert.deepEqual(refusals, [], 'no new connection failed')
  assert.ok(opened >= 5, `new connections kept coming (${opened})`)
  const after = await status()
  assert.deepEqual(after.workers.map((w) => w.pid), before.workers.map((w) => w.pid), 'the same worker processes')
  assert.equal(after.draining.workers, 0)
  assert.equal(after.connections.tunnelsOpen, 8)
  await Promise.all(clients.map(closeWs))
})

test('R40 R100 R98 a reload that removes a server closes only its tunnels, with 1012, spread over closeSpread; the others stay', async () => {
  // A new group: its round-robin starts afresh, so each worker alternates its four clients over the two servers.
  const both = { pair: { servers: [fixture.backends[0].url, fixture.backends[1].url] } }
  writeConfig({ ...fixture.config, upstreams: both, routes: [{ path: '/ws', upstream: 'pair' }] })
  await reload()
  const addresses = [...await addressesOnSlot(0, 4, '127.0.9'), ...await addressesOnSlot(1, 4, '127.0.10')]
  const opened = []
  for (const address of addresses) opened.push(await openOn(address))
  const onSecond = opened.filter((o) => o.backend === 'second').map((o) => o.ws)
  const onFirst = opened.filter((o) => o.backend === 'first').map((o) => o.ws)
  assert.equal(onSecond.length, 4)
  const closedAt: number[] = []
  const codes = onSecond.map(async (ws) => {
    const code = await closedWs(ws, 15_000)
    closedAt.push(Date.now())
    return code
  })
  let firstClosed = 0
  for (const ws of onFirst) ws.once('close', () => { firstClosed++ })

  writeConfig({ ...fixture.config, upstreams: { pair: { servers: [fixture.backends[0].url] } }, routes: [{ path: '/ws', upstream: 'pair' }] })
  const output = await reload()
  assert.match(output, /^reloaded in place/m)
  assert.match(output, /changed upstreams\.pair\.servers: removed http:\/\/127\.0\.0\.1:\d+/)
  assert.match(output, /closing 4 connection\(s\) whose server was removed or marked down/)
  assert.deepEqual(await Promise.all(codes), [1012, 1012, 1012, 1012])
  closedAt.sort((a, b) => a - b)
  const spread = closedAt[3] - closedAt[0]
  assert.ok(spread >= 900 && spread <= 6000, `spread over closeSpread (${spread} ms from first to last)`)
  for (const ws of onFirst) assert.equal(await echoOnce(ws, 'kept'), 'kept')
  assert.equal(firstClosed, 0)
  await fixture.cluster.waitForLog(() => fixture.cluster.logs.filter((line) => line.closedBy === 'server-removed').length === 4)
  await Promise.all(onFirst.map(closeWs))
})

test('R40 an invalid config on reload is rejected with its problems; the running workers stay', async () => {
  const before = (await whoami(fixture.cluster.port, '127.0.7.9')).pid
  writeConfig({ ...fixture.config, routes: [{ path: '/ws', upstream: 'nope' }] })
  try {
    const result = await runCli(['reload', '--config', 'ws-cluster.config.json'], fixture.dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /routes\[0\]\.upstream/)
    assert.equal((await whoami(fixture.cluster.port, '127.0.7.9')).pid, before)
    await fixture.cluster.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('reload rejected'))
  } finally {
    writeConfig(fixture.config)
  }
})

test('R40 SIGHUP reloads too (in place: the same worker keeps serving)', async () => {
  const before = (await whoami(fixture.cluster.port, '127.0.7.10')).pid
  const completed = fixture.cluster.logs.filter((line) => line.msg === 'reload complete').length
  process.kill(fixture.cluster.child.pid as number, 'SIGHUP')
  await fixture.cluster.waitForLog(() => fixture.cluster.logs.filter((line) => line.msg === 'reload complete').length > completed, 20_000)
  assert.equal(fixture.cluster.logs.filter((line) => line.msg === 'reload complete').at(-1)?.kind, 'in-place')
  assert.equal((await whoami(fixture.cluster.port, '127.0.7.10')).pid, before)
})

test('R40 R101 R102 a reload that replaces workers (the app changed) keeps old tunnels past shutdownTimeout until drainTimeout, then closes them with 1012; draining workers show in /status and /metrics', async () => {
  writeConfig(fixture.config)
  const oldPids = new Set((await status()).workers.map((w) => w.pid))
  const longLived = await openWs(url(), [], { localAddress: '127.0.11.1' })
  const closed = closedWs(longLived, 60_000)
  appendFileSync(fixture.config.app as string, '\n// a new version of the app\n')
  const output = await reload()
  assert.match(output, /^reloaded by replacing workers: 2 worker\(s\) replaced; the old ones keep their open connections until those end or drainTimeout \(10s\)$/m)
  assert.match(output, /because app: .*whoami-app\.mjs changed/)

  // Measured from when the tunnel's old worker began its drain (its log line), since starting new workers takes a while.
  const draining = await fixture.cluster.waitForLog((line) => line.msg === 'draining: open tunnels run until they end or drainTimeout')
  const drainStart = draining.time as number
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, drainStart + 2500 - Date.now())))
  assert.equal(await echoOnce(longLived, 'still here'), 'still here', 'well past shutdownTimeout (1 s), the old worker still carries the tunnel')
  const report = await status()
  // The old worker without tunnels has left already, or is about to.
  const drainingWorkers = report.workers.filter((w) => w.state === 'draining')
  assert.ok(drainingWorkers.length >= 1 && drainingWorkers.every((w) => oldPids.has(w.pid)), 'old workers are listed as draining')
  assert.equal(report.draining.workers, drainingWorkers.length)
  assert.equal(report.draining.tunnelsOpen, 1)
  assert.deepEqual(drainingWorkers.map((w) => w.connections?.tunnelsOpen ?? 0).reduce((a, b) => a + b), 1)
  const metrics = (await httpGet(fixture.cluster.adminPort as number, '/metrics')).body
  assert.match(metrics, /^ws_cluster_workers_draining [12]$/m)
  assert.match(metrics, /^ws_cluster_draining_tunnels_open 1$/m)
  const fresh = await whoami(fixture.cluster.port, '127.0.11.1')
  assert.ok(!oldPids.has(fresh.pid), 'new connections reach the new worker')

  assert.equal(await closed, 1012)
  const after = Date.now() - drainStart
  assert.ok(after >= 9500 && after <= 20_000, `closed at drainTimeout (${after} ms after the drain began)`)
  await fixture.cluster.waitForLog((line) => line.closedBy === 'drain')
  const settled = Date.now() + 10_000
  let left = await status()
  while (left.draining.workers > 0 && Date.now() < settled) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    left = await status()
  }
  assert.equal(left.draining.workers, 0, 'the old workers exited once their tunnels were gone')
})
