import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import type { ClusterConfigInput } from '../cluster/config/config-types.js'
import type { StatusReport } from '../cluster/status-report.js'
import type { RouteSettings } from '../plugin/index.js'
import { closeEchoBackends, startNamedEchoBackends, type EchoBackend } from './helpers/backends.js'
import { httpGet, makeClusterDir, runCli, startCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { NGINX_FIXTURES } from './helpers/nginx-fixtures.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

// R57: every nginx configuration of test/fixtures/nginx goes through the real
// CLI — `from-nginx`, `check`, `start` — and the running cluster proxies a real
// WebSocket to real `ws` echo backends with what the nginx config asked for:
// the headers (R51, R53: $host:$server_port seen from a worker), the path
// (R55) and the timeouts (in `ws-cluster status --json`). R38: no descriptor
// outlives the file.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline, 10_000))

const MIN = 60_000
const DEFAULT = { connectTimeout: 10_000, handshakeTimeout: 10_000, idleTimeout: 3_600_000, sendTimeout: 60_000, finTimeout: 30_000, http: true, upstreamPath: null }

interface SeedRun {
  /** [request target, what the backend must see as its URL] for each WebSocket opened. */
  requests: Array<[string, string]>
  /** Route path → settings expected in `status --json` (the upstream name aside). */
  routes: Record<string, Partial<RouteSettings>>
  /** Extra checks of what the backend received, with the cluster's client port. */
  check?: (upgrade: IncomingMessage, clusterPort: number) => void
  /** Host header the client sends (default: the ws client's own, 127.0.0.1:PORT). */
  host?: string
}

const HOST_PORT = (host: string) => (upgrade: IncomingMessage, port: number): void => {
  // proxy_set_header Host $host:$server_port: the client's host name without its port, then the port the client reached.
  assert.equal(upgrade.headers.host, `${host}:${port}`)
}

const RUNS: Record<string, SeedRun> = {
  'seed-000a-upgrade-timeouts.conf': { requests: [['/live', '/live']], routes: { '/*': { idleTimeout: 7 * MIN, sendTimeout: 7 * MIN } } },
  'seed-000b-connection-reuse.conf': { requests: [['/', '/']], routes: { '/*': { connectTimeout: 7 * 24 * 60 * MIN, idleTimeout: 7 * 24 * 60 * MIN } } },
  'seed-001a-hash-consistent.conf': {
    requests: [['/socket.io/?EIO=4&transport=websocket', '/socket.io/?EIO=4&transport=websocket']],
    routes: { '/*': {} },
    check: HOST_PORT('127.0.0.1')
  },
  'seed-001b-heartbeat-timeouts.conf': { requests: [['/', '/']], routes: { '/*': { connectTimeout: 4000, idleTimeout: MIN, sendTimeout: 12_000 } } },
  'seed-002-map-upstream-server.conf': { requests: [['/chat/room?x=1', '/chat/room?x=1']], routes: { '/*': { idleTimeout: 60 * MIN } } },
  'seed-003b-server-level-headers.conf': { requests: [['/ws', '/ws']], routes: { '/*': { connectTimeout: MIN, idleTimeout: 10 * MIN, sendTimeout: 10 * MIN } } },
  'seed-003c-http-map-include.conf': { requests: [['/ws', '/ws']], routes: { '/*': { connectTimeout: MIN, idleTimeout: 10 * MIN, sendTimeout: 10 * MIN } } },
  'seed-004-location-websocket.conf': {
    requests: [['/websocket', '/websocket'], ['/websocket/live?id=7', '/websocket/live?id=7']],
    routes: { '/websocket': {}, '/websocket/*': {} }
  }
}

/** Not an nginx config nginx accepts (one line whose "#" comment swallows the rest): from-nginx must refuse it. */
const MALFORMED = 'seed-003a-one-line-verbatim.conf'

/**
 * The translated config, run where the test can: listening on a free
 * loopback port with a free admin port, one worker (the primary still hands
 * every socket over to it; more would only cost start-up time on a shared
 * machine), and each 127.0.0.1:900N server of the fixture pointed at a live
 * echo backend.
 */
function runnable (config: ClusterConfigInput, backends: Map<string, EchoBackend>): ClusterConfigInput {
  const upstreams = Object.fromEntries(Object.entries(config.upstreams).map(([name, group]) => [name, {
    ...group,
    servers: group.servers.map(server => {
      const url = typeof server === 'string' ? server : server.url
      const backend = backends.get(url)
      assert.ok(backend !== undefined, `no backend for ${url}`)
      return typeof server === 'string' ? backend.url : { ...server, url: backend.url }
    })
  }]))
  return { ...config, upstreams, workers: 1, listen: { ...config.listen, port: 0, host: '127.0.0.1' }, admin: { port: 0, host: '127.0.0.1' } }
}

/** Every distinct server URL of a config, each with its own echo backend. */
async function backendsFor (config: ClusterConfigInput): Promise<Map<string, EchoBackend>> {
  const urls = [...new Set(Object.values(config.upstreams).flatMap(group => group.servers.map(server => typeof server === 'string' ? server : server.url)))]
  const started = await startNamedEchoBackends(...urls)
  return new Map(urls.map((url, i) => [url, started[i]]))
}

/**
 * Translates `nginxFile` with the real CLI, checks the result with `ws-cluster check`,
 * starts it with `ws-cluster start` and runs `run` against it.
 */
async function throughTheCli (nginxFile: string, run: SeedRun): Promise<void> {
  const { dir, cleanup } = makeClusterDir()
  let backends = new Map<string, EchoBackend>()
  try {
    const translated = await runCli(['from-nginx', nginxFile, '--out', 'ws-cluster.config.json'], dir)
    assert.equal(translated.code, 0, translated.stderr)
    const check = await runCli(['check'], dir)
    assert.equal(check.code, 0, check.stderr)
    assert.equal(check.stdout, `configuration file ${join(dir, 'ws-cluster.config.json')} is valid\n`)

    const config = JSON.parse(readFileSync(join(dir, 'ws-cluster.config.json'), 'utf8')) as ClusterConfigInput
    backends = await backendsFor(config)
    const cluster = await startCluster(dir, runnable(config, backends))
    try {
      const all = [...backends.values()]
      for (const [target, upstreamUrl] of run.requests) {
        const seen = all.reduce((n, b) => n + b.upgrades.length, 0)
        const ws = await openWs(`ws://127.0.0.1:${cluster.port}${target}`, [], run.host === undefined ? {} : { headers: { Host: run.host } })
        try {
          assert.equal(await echoOnce(ws, `hello ${target}`), `hello ${target}`)
          const upgrade = all.flatMap(b => b.upgrades)[seen]
          assert.equal(upgrade.url, upstreamUrl, target)
          assert.equal(upgrade.headers['x-real-ip'], '127.0.0.1')
          run.check?.(upgrade, cluster.port)
          const status = await runCli(['status', '--json'], dir)
          assert.equal(status.code, 0, status.stderr)
          const report = JSON.parse(status.stdout) as StatusReport
          assert.equal(report.connections.tunnelsOpen, 1, 'the tunnel shows in status while open')
          for (const [path, expected] of Object.entries(run.routes)) {
            const { upstream: _upstream, ...settings } = report.routes[path]?.settings ?? {}
            assert.deepEqual(settings, { ...DEFAULT, ...expected }, `settings of route ${path}`)
          }
        } finally {
          await closeWs(ws)
        }
      }
      // Every translated location also proxies plain HTTP ("http": true), as nginx did.
      const plain = await httpGet(cluster.port, run.requests[0][0])
      assert.equal(plain.status, 200, plain.body)
      assert.equal((JSON.parse(plain.body) as { url: string }).url, run.requests[0][1])
    } finally {
      await cluster.kill()
    }
  } finally {
    await closeEchoBackends([...backends.values()])
    cleanup()
  }
}

test('R57 every nginx fixture has a run through the cluster (a new fixture must be added here)', () => {
  const files = readdirSync(NGINX_FIXTURES).filter(f => f.endsWith('.conf')).sort()
  assert.deepEqual(files, [...Object.keys(RUNS), MALFORMED].sort())
})

for (const [file, run] of Object.entries(RUNS)) {
  test(`R57 ${file}: from-nginx, check and start; a real WebSocket crosses the cluster with the nginx config's headers, path and timeouts`, async () => {
    await throughTheCli(join(NGINX_FIXTURES, file), run)
  })
}

test('R57 R53 seed 001\'s Host $host:$server_port: a Host without a port gets the port the client reached, seen from a worker', async () => {
  await throughTheCli(join(NGINX_FIXTURES, 'seed-001a-hash-consistent.conf'), {
    requests: [['/', '/']],
    routes: { '/*': {} },
    host: 'Chat.Example.TEST',
    check: HOST_PORT('chat.example.test')
  })
})

test('R57 R55 proxy_pass with a URI: the translated upstreamPath rewrites the path in the running cluster', async () => {
  const { dir, cleanup } = makeClusterDir()
  try {
    const file = join(dir, 'nginx.conf')
    // Seed 004's location, with a URI on proxy_pass (nginx: /websocket/chat?x=1 goes up as /socket/chat?x=1).
    writeFileSync(file, 'http {\n  server {\n    location /websocket/ {\n      proxy_pass http://127.0.0.1:9001/socket/;\n' +
      '      proxy_http_version 1.1;\n      proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection "upgrade";\n' +
      '      proxy_set_header X-Original-URI $request_uri;\n      proxy_read_timeout 1h;\n    }\n  }\n}\n')
    await throughTheCli(file, {
      requests: [['/websocket/chat?x=1', '/socket/chat?x=1'], ['/websocket/', '/socket/']],
      routes: { '/websocket/*': { idleTimeout: 60 * MIN, upstreamPath: '/socket/' } },
      check: (upgrade) => { assert.match(String(upgrade.headers['x-original-uri']), /^\/websocket\//) }
    })
  } finally {
    cleanup()
  }
})

test('R57 the malformed fixture is refused by from-nginx: nothing is written, so nothing can start', async () => {
  const { dir, cleanup } = makeClusterDir()
  try {
    const result = await runCli(['from-nginx', join(NGINX_FIXTURES, MALFORMED), '--out', 'ws-cluster.config.json'], dir)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /is not valid nginx syntax; nothing written\n$/)
    assert.equal(existsSync(join(dir, 'ws-cluster.config.json')), false)
  } finally {
    cleanup()
  }
})
