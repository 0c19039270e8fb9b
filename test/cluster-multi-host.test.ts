import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClientOptions, WebSocket } from 'ws'
import { startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { httpGet, makeClusterDir, runCli, startCluster, type RunningCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { proxyV2 } from './helpers/proxy-header.js'
import { startProxyBalancer, type ProxyBalancer } from './helpers/proxy-balancer.js'
import { closedWs, closeWs, connectWs, echoOnce, openWs } from './helpers/ws-clients.js'

// Several ws-cluster hosts behind an L4 balancer that speaks PROXY protocol v2
// (DESIGN "Beyond one machine"): two real clusters on 127.0.0.1, a balancer
// that hashes the client's source address, and clients played from
// 127.0.0.2… that the balancer presents as public addresses 203.0.113.x.

const PER_IP_LIMIT = 2
const CLIENT_ADDRESS_MODULE = fileURLToPath(new URL('../plugin/client-identity.js', import.meta.url))

interface Host { name: string, dir: { dir: string, cleanup: () => void }, cluster: RunningCluster }
interface Seen { primary: number, pid: number, client: string }

let baseline = 0
let backend: EchoBackend
let balancer: ProxyBalancer
const hosts: Host[] = []
const sockets = new Set<WebSocket>()

/** The public address the balancer claims for a loopback client: 127.0.0.N → 203.0.113.N. */
const claim = (source: string): string => `203.0.113.${source.split('.')[3]}`

/** GET /whoami through the balancer from `source`: which host (primary pid) and worker served, and who it thinks the client is. */
async function whoamiFrom (source: string): Promise<Seen> {
  const res = await httpGet(balancer.port, '/whoami', source)
  assert.equal(res.status, 200, res.body)
  return JSON.parse(res.body) as Seen
}

async function wsFrom (source: string): Promise<WebSocket | number> {
  const result = await connectWs(`ws://127.0.0.1:${balancer.port}/ws`, [], { localAddress: source })
  if (typeof result !== 'number') sockets.add(result)
  return result
}

function hostOf (source: string): Host {
  const name = balancer.order(source)[0].name
  return hosts.find((h) => h.name === name) as Host
}

before(async () => {
  baseline = openFdCount()
  backend = await startEchoBackend()
  await Promise.all(['host-a', 'host-b'].map(async (name) => {
    const dir = makeClusterDir()
    // Tells which host (the worker's parent, the primary) and worker served a request.
    writeFileSync(join(dir.dir, 'host-app.mjs'), `import { clientAddressOf } from ${JSON.stringify(CLIENT_ADDRESS_MODULE)}
export default async function (app) {
  app.get('/whoami', async (request) => ({ primary: process.ppid, pid: process.pid, client: clientAddressOf(request.raw.socket) }))
}
`)
    const cluster = await startCluster(dir.dir, {
      upstreams: { echo: { servers: [backend.url] } },
      routes: [{ path: '/ws', upstream: 'echo' }],
      listen: { port: 0, host: '127.0.0.1', proxyProtocol: true, trustedProxies: ['127.0.0.1'] },
      admin: false,
      workers: 2,
      limits: { maxConnectionsPerIp: PER_IP_LIMIT },
      shutdownTimeout: '1s',
      app: './host-app.mjs'
    })
    hosts.push({ name, dir, cluster })
  }))
  balancer = await startProxyBalancer(hosts.map((h) => ({ name: h.name, port: h.cluster.port })), claim)
})

// R38: every process, socket and descriptor the file opened is gone at the end.
after(async () => {
  await Promise.all([...sockets].map(closeWs))
  await Promise.all(hosts.map(async (h) => await h.cluster.kill()))
  await balancer?.close()
  await backend?.close()
  for (const host of hosts) host.dir.cleanup()
  await assertNoFdLeak(baseline)
})

test('R33 multi-host: a WebSocket through the balancer reaches the backend with the claimed client address in X-Real-IP and X-Forwarded-For', async () => {
  const ws = await openWs(`ws://127.0.0.1:${balancer.port}/ws`, [], { localAddress: '127.0.0.2' })
  sockets.add(ws)
  assert.equal(await echoOnce(ws, 'across hosts'), 'across hosts')
  const upgrade = backend.upgrades.at(-1)
  assert.equal(upgrade?.headers['x-real-ip'], '203.0.113.2')
  assert.equal(upgrade?.headers['x-forwarded-for'], '203.0.113.2')
  await closeWs(ws)
  sockets.delete(ws)
})

test('R33 multi-host: one client always lands on the same host and worker; clients spread over both hosts', async () => {
  const sources = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)
  const primaries = new Set<number>()
  for (const source of sources) {
    const seen = [await whoamiFrom(source), await whoamiFrom(source), await whoamiFrom(source)]
    assert.equal(seen[0].client, claim(source), 'the worker sees the claimed address')
    assert.deepEqual(seen[1], seen[0], `${source}: same host and worker`)
    assert.deepEqual(seen[2], seen[0], `${source}: same host and worker`)
    assert.equal(seen[0].primary, hostOf(source).cluster.child.pid, 'the host the balancer picked served it')
    primaries.add(seen[0].primary)
  }
  assert.equal(primaries.size, 2, 'both hosts serve clients')
})

test('R33 R35 multi-host: limits.maxConnectionsPerIp holds per host, for the claimed address', async () => {
  const source = '127.0.0.3'
  const open: WebSocket[] = []
  for (let i = 0; i < PER_IP_LIMIT; i++) {
    const ws = await wsFrom(source)
    assert.notEqual(typeof ws, 'number', `tunnel ${i + 1} of ${PER_IP_LIMIT} is allowed`)
    open.push(ws as WebSocket)
  }
  assert.equal(await wsFrom(source), 503, `tunnel ${PER_IP_LIMIT + 1} is refused`)
  // The limit is per client address: another client on the same host is not affected.
  const neighbour = ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'].find((s) => hostOf(s) === hostOf(source))
  assert.ok(neighbour !== undefined)
  const other = await wsFrom(neighbour)
  assert.notEqual(typeof other, 'number')
  // Per host, not global: the other host counts this address on its own (a balancer that moves a client resets it).
  const otherHost = hosts.find((h) => h !== hostOf(source)) as Host
  const direct = await openWs(`ws://127.0.0.1:${otherHost.cluster.port}/ws`, [], {
    createConnection: () => {
      const socket = connect({ host: '127.0.0.1', port: otherHost.cluster.port })
      socket.write(proxyV2({ source: claim(source), sourcePort: 40_000, destination: '127.0.0.1', destinationPort: otherHost.cluster.port }))
      return socket
    }
  } as ClientOptions)
  sockets.add(direct)
  for (const ws of [...open, other as WebSocket, direct]) {
    await closeWs(ws)
    sockets.delete(ws)
  }
})

test('R39 multi-host: when a host stops, its clients see their WebSocket close and reconnect through the balancer to the other host', async () => {
  const stopping = hostOf('127.0.0.2')
  const staying = hosts.find((h) => h !== stopping) as Host
  const movingSource = '127.0.0.2'
  const stayingSource = ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'].find((s) => hostOf(s) === staying) as string
  const moving = await wsFrom(movingSource) as WebSocket
  const unaffected = await wsFrom(stayingSource) as WebSocket
  assert.equal((await whoamiFrom(movingSource)).primary, stopping.cluster.child.pid)
  let unaffectedClosed = false
  unaffected.once('close', () => { unaffectedClosed = true })

  const closed = closedWs(moving, 15_000)
  const stop = await runCli(['stop', '--config', 'ws-cluster.config.json'], stopping.dir.dir)
  assert.equal(stop.code, 0, stop.stderr)
  const code = await closed
  // 1001 once the drain sends close frames (DESIGN); 1006 while it cuts the TCP connection at shutdownTimeout.
  assert.ok(code === 1001 || code === 1006, `the client sees its WebSocket close (code ${code})`)
  assert.equal((await stopping.cluster.closed).code, 0)

  // The client's reconnect: the balancer finds the stopped host refusing and takes the next one.
  const again = await wsFrom(movingSource)
  assert.notEqual(typeof again, 'number', 'reconnected')
  assert.equal(await echoOnce(again as WebSocket, 'after failover'), 'after failover')
  assert.equal(backend.upgrades.at(-1)?.headers['x-forwarded-for'], claim(movingSource))
  const seen = [await whoamiFrom(movingSource), await whoamiFrom(movingSource)]
  assert.equal(seen[0].primary, staying.cluster.child.pid, 'served by the remaining host')
  assert.deepEqual(seen[1], seen[0], 'and sticky there')

  assert.equal(await echoOnce(unaffected, 'still here'), 'still here')
  assert.equal(unaffectedClosed, false, 'clients of the remaining host never noticed')
})
