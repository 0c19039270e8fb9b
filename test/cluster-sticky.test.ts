import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { WebSocket } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { runCli, whoami, httpGet } from './helpers/cluster-process.js'
import { assertTreeFdsBackTo, processTree, treeFds } from './helpers/process-tree.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

const fixture = useWhoamiCluster({
  backends: [{ name: 'b1' }],
  config: () => ({ admin: { port: 0 }, workers: 3, limits: { maxConnectionsPerIp: 2 } })
})

/** A tunnel through the cluster from `localAddress` (which picks the worker). */
async function openTunnel (localAddress: string): Promise<WebSocket> {
  return await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`, [], { localAddress })
}

test('R33 sticky workers: the same client address always reaches the same worker, different addresses spread over workers', async () => {
  const addresses = Array.from({ length: 24 }, (_, i) => `127.0.${1 + (i % 3)}.${10 + i}`)
  const first = new Map<string, number>()
  for (const address of addresses) {
    const seen = await whoami(fixture.cluster.port, address)
    assert.equal(seen.client, address, 'the worker sees the real client address')
    first.set(address, seen.pid)
  }
  for (let round = 0; round < 2; round++) {
    for (const address of addresses) {
      assert.equal((await whoami(fixture.cluster.port, address)).pid, first.get(address), `${address} moved to another worker`)
    }
  }
  assert.equal(new Set(first.values()).size, 3, 'clients spread over all three workers')
})

test('R33 a proxied WebSocket from a chosen address goes to that address\'s worker and carries it in X-Forwarded-For', async () => {
  const address = '127.0.2.77'
  const ws = await openTunnel(address)
  try {
    assert.equal(await echoOnce(ws, 'hello'), 'hello')
    const upgrade = fixture.backend.upgrades.at(-1)
    assert.equal(upgrade?.headers['x-forwarded-for'], address)
    assert.equal(upgrade?.headers['x-real-ip'], address)
  } finally {
    await closeWs(ws)
  }
})

test('R42 status and /metrics count what the test did: open tunnels per worker, requests, upstream server figures', async () => {
  const before = JSON.parse((await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], fixture.dir)).stdout) as {
    connections: { requests: number }, upstreams: { echo: { servers: Array<{ total: number }> } }
  }
  const addresses = ['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4', '127.0.3.5']
  const sockets: WebSocket[] = []
  try {
    for (const address of addresses) sockets.push(await openTunnel(address))
    const slotsOf = await Promise.all(addresses.map(async (a) => (await whoami(fixture.cluster.port, a)).pid))
    const status = await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], fixture.dir)
    assert.equal(status.code, 0, status.stderr)
    const report = JSON.parse(status.stdout) as {
      state: string
      connections: { tunnelsOpen: number, requests: number }
      workers: Array<{ pid: number, slot: number, state: string, connections: { tunnelsOpen: number } | null }>
      upstreams: { echo: { servers: Array<{ url: string, state: string, active: number, total: number, failures: number }> } }
      routes: Record<string, { open: number }>
    }
    assert.equal(report.state, 'ready')
    assert.equal(report.connections.tunnelsOpen, addresses.length)
    assert.equal(report.routes['/ws']?.open, addresses.length)
    // 5 upgrades + 5 /whoami requests since the first status.
    assert.equal(report.connections.requests - before.connections.requests, addresses.length * 2)
    const server = report.upstreams.echo.servers[0]
    assert.equal(server?.url, fixture.backend.url)
    assert.equal(server?.state, 'up')
    assert.equal(server?.active, addresses.length)
    assert.equal(server?.failures, 0)
    assert.equal((server?.total ?? 0) - (before.upstreams.echo.servers[0]?.total ?? 0), addresses.length)
    assert.equal(report.workers.length, 3)
    for (const worker of report.workers) {
      const expected = slotsOf.filter((pid) => pid === worker.pid).length
      assert.equal(worker.connections?.tunnelsOpen, expected, `tunnels of worker ${worker.pid}`)
      assert.equal(worker.state, 'serving')
    }

    const metrics = await httpGet(fixture.cluster.adminPort as number, '/metrics')
    assert.equal(metrics.status, 200)
    assert.match(metrics.body, new RegExp(`^ws_cluster_tunnels_open ${addresses.length}$`, 'm'))
    assert.match(metrics.body, new RegExp(`^ws_cluster_upstream_server_connections_active\\{upstream="echo",server="${fixture.backend.url}"\\} ${addresses.length}$`, 'm'))
    assert.match(metrics.body, /^ws_cluster_workers 3$/m)
    assert.match(metrics.body, /^ws_cluster_upstream_server_state\{upstream="echo",server="[^"]+",state="up"\} 3$/m)

    const text = await runCli(['status', '--config', 'ws-cluster.config.json'], fixture.dir)
    assert.equal(text.code, 0)
    assert.match(text.stdout, new RegExp(`tunnels open ${addresses.length}`))
    assert.match(text.stdout, /upstream echo \(round-robin\)/)
  } finally {
    await Promise.all(sockets.map(closeWs))
  }
})

/** The descriptor count of the cluster's tree once it stopped falling (sockets of finished requests close asynchronously). */
async function settledTreeFds (root: number): Promise<Map<number, number>> {
  let last = treeFds(root)
  for (let i = 0; i < 40; i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    const now = treeFds(root)
    const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0)
    if (sum(now) >= sum(last)) return now
    last = now
  }
  return last
}

test('R38 while the cluster runs: after tunnels, requests and refusals through every worker end, the primary and each worker are back at their idle descriptor counts', async () => {
  const root = fixture.cluster.child.pid as number
  const addresses = Array.from({ length: 12 }, (_, i) => `127.0.7.${i + 1}`)
  // Warm-up: every worker has served a request and a tunnel, so what opens once (upstream pools, timers) is open already.
  const workers = new Set<number>()
  for (const address of addresses) {
    workers.add((await whoami(fixture.cluster.port, address)).pid)
    await closeWs(await openTunnel(address))
  }
  assert.equal(workers.size, 3, 'the addresses reach every worker')
  const idle = await settledTreeFds(root)
  assert.deepEqual([...idle.keys()].sort(), [root, ...workers].sort(), 'the tree is the primary and its three workers')

  const tunnels = await Promise.all(addresses.map(openTunnel))
  for (const ws of tunnels) assert.equal(await echoOnce(ws, 'fd check'), 'fd check')
  for (const address of addresses) await whoami(fixture.cluster.port, address)
  // maxConnectionsPerIp 2: a third tunnel from one address is refused with 503 while two are open.
  const second = await openTunnel(addresses[0])
  await assert.rejects(openTunnel(addresses[0]), /503/)
  await Promise.all([...tunnels, second].map(closeWs))

  await assertTreeFdsBackTo(root, idle)
  assert.equal(processTree(root).length, 4)
})

test('R42 admin /livez and /readyz answer while serving; unknown paths 404', async () => {
  const port = fixture.cluster.adminPort as number
  assert.equal((await httpGet(port, '/livez')).status, 200)
  const ready = await httpGet(port, '/readyz')
  assert.equal(ready.status, 200)
  assert.equal(ready.body.trim(), 'ready')
  assert.equal((await httpGet(port, '/nope')).status, 404)
})

test('R33 R35 per-IP limits hold cluster-wide because one address always lands on one worker', async () => {
  const sockets = [await openTunnel('127.0.2.90'), await openTunnel('127.0.2.90')]
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${fixture.cluster.port}/ws`, { localAddress: '127.0.2.90' })
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('no answer')) }, 5000)
      ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); res.resume(); resolve(res.statusCode ?? 0); ws.terminate() })
      ws.once('open', () => { clearTimeout(timer); sockets.push(ws); resolve(101) })
      ws.once('error', () => {})
    })
    assert.equal(status, 503, 'a third tunnel from the same address is refused')
    sockets.push(await openTunnel('127.0.2.91'))
  } finally {
    await Promise.all(sockets.map(closeWs))
  }
})

test('R36 R37 malformed requests through the cluster get the status nginx would send', async () => {
  const ask = async (bytes: string): Promise<string> => await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port })
    let text = ''
    socket.setEncoding('utf8')
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('no answer')) })
    socket.once('connect', () => socket.write(bytes))
    socket.on('data', (c: string) => { text += c })
    socket.on('error', () => {})
    socket.once('close', () => resolve(text))
  })
  assert.match(await ask(`GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /)
  assert.match(await ask('GET /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'), /^HTTP\/1\.1 400 /)
})
