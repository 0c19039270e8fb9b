import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { WebSocket } from 'ws'
import { startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { makeClusterDir, runCli, startCluster, whoami, writeWhoamiApp, httpGet, type RunningCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

let baseline = 0
let backend: EchoBackend
let cluster: RunningCluster
let dir: { dir: string, cleanup: () => void }

before(async () => {
  baseline = openFdCount()
  backend = await startEchoBackend({ name: 'b1' })
  dir = makeClusterDir()
  cluster = await startCluster(dir.dir, {
    upstreams: { echo: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: { port: 0 },
    workers: 3,
    limits: { maxConnectionsPerIp: 2 },
    shutdownTimeout: '1s',
    app: writeWhoamiApp(dir.dir)
  })
})

after(async () => {
  await cluster?.kill()
  await backend?.close()
  dir?.cleanup()
  await assertNoFdLeak(baseline)
})

async function openTunnel (port: number, localAddress: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { localAddress })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('open timed out')), 5000)
    ws.once('open', () => { clearTimeout(timer); resolve() })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
  return ws
}

async function echo (ws: WebSocket, text: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo timed out')), 5000)
    ws.once('message', (data) => { clearTimeout(timer); resolve(String(data)) })
    ws.send(text)
  })
}

async function closeAll (sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map(async (ws) => await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) { resolve(); return }
    const timer = setTimeout(() => { ws.terminate(); resolve() }, 3000)
    ws.once('close', () => { clearTimeout(timer); resolve() })
    ws.close()
  })))
}

test('R33 sticky workers: the same client address always reaches the same worker, different addresses spread over workers', async () => {
  const addresses = Array.from({ length: 24 }, (_, i) => `127.0.${1 + (i % 3)}.${10 + i}`)
  const first = new Map<string, number>()
  for (const address of addresses) {
    const seen = await whoami(cluster.port, address)
    assert.equal(seen.client, address, 'the worker sees the real client address')
    first.set(address, seen.pid)
  }
  for (let round = 0; round < 2; round++) {
    for (const address of addresses) {
      assert.equal((await whoami(cluster.port, address)).pid, first.get(address), `${address} moved to another worker`)
    }
  }
  assert.equal(new Set(first.values()).size, 3, 'clients spread over all three workers')
})

test('R33 a proxied WebSocket from a chosen address goes to that address\'s worker and carries it in X-Forwarded-For', async () => {
  const address = '127.0.2.77'
  const ws = await openTunnel(cluster.port, address)
  try {
    assert.equal(await echo(ws, 'hello'), 'hello')
    const upgrade = backend.upgrades.at(-1)
    assert.equal(upgrade?.headers['x-forwarded-for'], address)
    assert.equal(upgrade?.headers['x-real-ip'], address)
  } finally {
    await closeAll([ws])
  }
})

test('R42 status and /metrics count what the test did: open tunnels per worker, requests, upstream server figures', async () => {
  const before = JSON.parse((await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], dir.dir)).stdout) as {
    connections: { requests: number }, upstreams: { echo: { servers: Array<{ total: number }> } }
  }
  const addresses = ['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4', '127.0.3.5']
  const sockets: WebSocket[] = []
  try {
    for (const address of addresses) sockets.push(await openTunnel(cluster.port, address))
    const slotsOf = await Promise.all(addresses.map(async (a) => (await whoami(cluster.port, a)).pid))
    const status = await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], dir.dir)
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
    assert.equal(server?.url, backend.url)
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

    const metrics = await httpGet(cluster.adminPort as number, '/metrics')
    assert.equal(metrics.status, 200)
    assert.match(metrics.body, new RegExp(`^ws_cluster_tunnels_open ${addresses.length}$`, 'm'))
    assert.match(metrics.body, new RegExp(`^ws_cluster_upstream_server_connections_active\\{upstream="echo",server="${backend.url}"\\} ${addresses.length}$`, 'm'))
    assert.match(metrics.body, /^ws_cluster_workers 3$/m)
    assert.match(metrics.body, /^ws_cluster_upstream_server_state\{upstream="echo",server="[^"]+",state="up"\} 3$/m)

    const text = await runCli(['status', '--config', 'ws-cluster.config.json'], dir.dir)
    assert.equal(text.code, 0)
    assert.match(text.stdout, new RegExp(`tunnels open ${addresses.length}`))
    assert.match(text.stdout, /upstream echo \(round-robin\)/)
  } finally {
    await closeAll(sockets)
  }
})

test('R42 admin /livez and /readyz answer while serving; unknown paths 404', async () => {
  const port = cluster.adminPort as number
  assert.equal((await httpGet(port, '/livez')).status, 200)
  const ready = await httpGet(port, '/readyz')
  assert.equal(ready.status, 200)
  assert.equal(ready.body.trim(), 'ready')
  assert.equal((await httpGet(port, '/nope')).status, 404)
})

test('R33 R35 per-IP limits hold cluster-wide because one address always lands on one worker', async () => {
  const sockets = [await openTunnel(cluster.port, '127.0.2.90'), await openTunnel(cluster.port, '127.0.2.90')]
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${cluster.port}/ws`, { localAddress: '127.0.2.90' })
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('no answer')) }, 5000)
      ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); res.resume(); resolve(res.statusCode ?? 0); ws.terminate() })
      ws.once('open', () => { clearTimeout(timer); sockets.push(ws); resolve(101) })
      ws.once('error', () => {})
    })
    assert.equal(status, 503, 'a third tunnel from the same address is refused')
    sockets.push(await openTunnel(cluster.port, '127.0.2.91'))
  } finally {
    await closeAll(sockets)
  }
})

test('R36 R37 malformed requests through the cluster get the status nginx would send', async () => {
  const ask = async (bytes: string): Promise<string> => await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: cluster.port })
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
