import { test } from 'node:test'
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { WsProxyStats } from '../plugin/index.js'
import type { ClusterConfig } from '../cluster/config/config-types.js'
import { CrashBackoff } from '../cluster/primary/crash-backoff.js'
import { mergeReloadedConfig } from '../cluster/primary/rolling-reload.js'
import { claimRunState, controlSocketOf, releaseRunState, runStateFor } from '../cluster/run-state.js'
import { formatReload } from '../cluster/cli/reload-format.js'
import { formatStatus } from '../cluster/cli/status-format.js'
import { replaceReasons } from '../cluster/primary/reload-plan.js'
import { emptyConnections, mergeWorkerStats, type StatusReport } from '../cluster/status-report.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

test('R41 crash backoff: a worker that lived long is replaced at once; quick deaths double the delay up to the cap', async () => {
  const baseline = openFdCount()
  const backoff = new CrashBackoff(250, 2000, 10_000)
  assert.equal(backoff.nextDelay(0, 60_000), 0)
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => backoff.nextDelay(0, 100)), [0, 250, 500, 1000, 2000, 2000])
  assert.equal(backoff.streak(0), 6)
  assert.equal(backoff.nextDelay(1, 100), 0, 'slots keep separate streaks')
  assert.equal(backoff.nextDelay(0, 10_000), 0, 'a stable worker resets the streak')
  assert.equal(backoff.streak(0), 0)
  await assertNoFdLeak(baseline)
})

function config (overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    upstreams: { a: { servers: ['http://127.0.0.1:9001'] } },
    routes: [{ path: '/ws', upstream: 'a' }],
    listen: { port: 8080, host: '127.0.0.1', tls: null, proxyProtocol: false, trustedProxies: [], maxPendingProxyHeaders: 1024 },
    workers: 2,
    limits: {},
    admin: { port: 9090, host: '127.0.0.1' },
    shutdownTimeout: 10_000,
    drainTimeout: 3_600_000,
    closeSpread: 10_000,
    headersTimeout: 60_000,
    heartbeatTimeout: 10_000,
    log: { level: 'info', pretty: false },
    app: null,
    file: '/srv/ws-cluster.config.json',
    ...overrides
  }
}

test('R40 a reload applies what workers do (routes, upstreams, TLS files) and keeps what the primary bound until a restart', async () => {
  const baseline = openFdCount()
  const running = config()
  const next = config({
    upstreams: { b: { servers: ['http://127.0.0.1:9002'] } },
    routes: [{ path: '/ws', upstream: 'b' }],
    listen: { port: 9999, host: '127.0.0.1', tls: { cert: '/c.pem', key: '/k.pem' }, proxyProtocol: false, trustedProxies: [], maxPendingProxyHeaders: 1024 },
    workers: 4,
    shutdownTimeout: 5000
  })
  const { config: applied, restartOnly } = mergeReloadedConfig(running, next)
  assert.deepEqual(applied.upstreams, next.upstreams)
  assert.deepEqual(applied.routes, next.routes)
  assert.equal(applied.shutdownTimeout, 5000)
  assert.deepEqual(applied.listen.tls, { cert: '/c.pem', key: '/k.pem' })
  assert.equal(applied.listen.port, 8080)
  assert.equal(applied.workers, 2)
  assert.deepEqual(restartOnly, ['listen', 'workers'])
  assert.deepEqual(mergeReloadedConfig(running, config()).restartOnly, [])
  await assertNoFdLeak(baseline)
})

test('R99 what makes a reload replace the workers: the app module (its path or its content), TLS on or off, the log format; nothing else', async () => {
  const baseline = openFdCount()
  const same = { running: 'd1', next: 'd1' }
  const tls = { cert: '/c.pem', key: '/k.pem' }
  assert.deepEqual(replaceReasons(config(), config({ upstreams: { b: { servers: ['http://127.0.0.1:9002'] } }, shutdownTimeout: 1, closeSpread: 0 }), same), [])
  assert.deepEqual(replaceReasons(config({ app: '/a.mjs' }), config({ app: '/a.mjs' }), { running: 'd1', next: 'd2' }), ['app: /a.mjs changed'])
  assert.deepEqual(replaceReasons(config({ app: '/a.mjs' }), config({ app: '/b.mjs' }), same), ['app: /a.mjs → /b.mjs'])
  const listen = config().listen
  assert.deepEqual(replaceReasons(config(), config({ listen: { ...listen, tls } }), same), ['listen.tls: TLS turned on'])
  assert.deepEqual(replaceReasons(config({ listen: { ...listen, tls } }), config({ listen: { ...listen, tls: { cert: '/c2.pem', key: '/k2.pem' } } }), same), [],
    'new certificates are applied in place')
  assert.deepEqual(replaceReasons(config(), config({ log: { level: 'debug', pretty: false } }), same), [], 'the level is applied in place')
  await assertNoFdLeak(baseline)
})

test('R99 `ws-cluster reload` says which kind of reload it did and why', async () => {
  const baseline = openFdCount()
  const inPlace = formatReload({
    ok: true,
    kind: 'in-place',
    updated: 2,
    replaced: 0,
    reasons: [],
    closing: 3,
    restartOnly: ['workers'],
    drainTimeout: 14_400_000,
    changes: [{ path: 'upstreams.chat.servers', change: 'removed http://10.0.0.2:3000' }]
  })
  assert.match(inPlace, /^reloaded in place: 2 worker\(s\) applied the new config; open connections kept$/m)
  assert.match(inPlace, /changed upstreams\.chat\.servers: removed http:\/\/10\.0\.0\.2:3000/)
  assert.match(inPlace, /closing 3 connection\(s\) whose server was removed or marked down \(1012/)
  assert.match(inPlace, /not applied until a restart: workers/)
  const replaced = formatReload({ ok: true, kind: 'replaced', updated: 0, replaced: 2, reasons: ['app: /srv/app.mjs changed'], changes: [], closing: 0, drainTimeout: 14_400_000 })
  assert.match(replaced, /^reloaded by replacing workers: 2 worker\(s\) replaced; the old ones keep their open connections until those end or drainTimeout \(4h\)$/m)
  assert.match(replaced, /because app: \/srv\/app\.mjs changed/)
  await assertNoFdLeak(baseline)
})

const ROUTE_SETTINGS = { upstream: 'a', connectTimeout: 4000, handshakeTimeout: 10_000, idleTimeout: 60_000, sendTimeout: 12_000, finTimeout: 30_000, http: true, upstreamPath: null }

function workerStats (tunnels: number, state: 'up' | 'failed' | 'down', failedUntil: number | null): WsProxyStats {
  return {
    connections: { ...emptyConnections(), active: tunnels, accepted: tunnels + 1, handled: tunnels + 1, requests: tunnels + 2, tunnelsOpen: tunnels },
    routes: {
      '/ws': {
        open: tunnels,
        total: tunnels,
        failed: 1,
        refusedByHooks: 1,
        bytesFromClients: 10,
        bytesToClients: 20,
        settings: ROUTE_SETTINGS,
        messagesFromClients: 100,
        messagesFromUpstreams: 200,
        messagesTooBig: 1,
        rateLimited: 2,
        hookErrors: 3
      }
    },
    upstreams: {
      a: {
        name: 'a',
        balance: 'ip-hash',
        servers: [{ url: 'http://127.0.0.1:9001', state, failedUntil, active: tunnels, total: tunnels, failures: state === 'failed' ? 1 : 0, weight: 1, backup: false }]
      }
    }
  }
}

test('R42 status merges workers: counters add up, a server is up only if every worker sees it up', async () => {
  const baseline = openFdCount()
  const merged = mergeWorkerStats([workerStats(2, 'up', null), workerStats(3, 'failed', 1_900_000_000_000)])
  assert.equal(merged.connections.tunnelsOpen, 5)
  assert.equal(merged.connections.accepted, 7)
  assert.equal(merged.connections.requests, 9)
  // R76: the relay's message figures and limit closes add up like the rest.
  assert.deepEqual(merged.routes['/ws'], {
    open: 5,
    total: 5,
    failed: 2,
    refusedByHooks: 2,
    bytesFromClients: 20,
    bytesToClients: 40,
    settings: ROUTE_SETTINGS,
    messagesFromClients: 200,
    messagesFromUpstreams: 400,
    messagesTooBig: 2,
    rateLimited: 4,
    hookErrors: 6
  })
  const server = merged.upstreams.a?.servers[0]
  assert.equal(server?.state, 'failed')
  assert.equal(server?.failedUntil, 1_900_000_000_000)
  assert.equal(server?.active, 5)
  assert.equal(server?.failures, 1)
  assert.deepEqual(server?.workers, { up: 1, failed: 1, down: 0 })
  assert.equal(mergeWorkerStats([workerStats(1, 'up', null), workerStats(1, 'up', null)]).upstreams.a?.servers[0]?.state, 'up')
  assert.equal(mergeWorkerStats([workerStats(0, 'down', null)]).upstreams.a?.servers[0]?.state, 'down')

  const report: StatusReport = {
    pid: 42,
    state: 'ready',
    uptimeSeconds: 3725,
    configFile: '/srv/ws-cluster.config.json',
    listen: { host: '127.0.0.1', port: 8080, tls: true, proxyProtocol: false },
    primary: { accepted: 7, handedOff: 7, dropped: 0, waiting: 0, inFlight: 2, restarts: 1, unresponsive: 1, proxyHeaders: { pending: 3, refused: { invalid: 4, timeout: 0, closed: 0, 'too-many-pending': 5 } } },
    ...merged,
    draining: { workers: 1, tunnelsOpen: 3 },
    workers: [
      { slot: 0, pid: 100, state: 'serving', uptimeSeconds: 59, connections: merged.connections, queue: { inFlight: 2, waiting: 1 }, heartbeatAgeMs: 120 },
      { slot: 0, pid: 90, state: 'draining', uptimeSeconds: 3600, connections: { ...merged.connections, tunnelsOpen: 3 }, queue: null, heartbeatAgeMs: null }
    ]
  }
  const text = formatStatus(report)
  assert.match(text, /ws-cluster pid 42, ready, up 1h2m/)
  assert.match(text, /listening on 127\.0\.0\.1:8080 \(tls\)/)
  assert.match(text, /tunnels open 5/)
  assert.match(text, /worker restarts 1/)
  assert.match(text, /^0 +100 +serving +59s +3 +5 +5 +9$/m)
  assert.match(text, /in flight 2, waiting 0, dropped 0, worker restarts 1, unresponsive workers replaced 1/)
  assert.match(text, /proxy headers: pending 3, refused invalid 4, timeout 0, closed 0, too many pending 5/)
  // R102: a worker a reload replaced is listed as draining, with the tunnels it still carries.
  assert.match(text, /^0 +90 +draining +1h0m +- +5 +3 +9$/m)
  assert.match(text, /draining: 1 old worker\(s\) with 3 tunnel\(s\) still open/)
  assert.match(text, /upstream a \(ip-hash\)/)
  assert.match(text, /http:\/\/127\.0\.0\.1:9001 +failed until 2030-/)
  await assertNoFdLeak(baseline)
})

test('R63 run state: next to the config file, named after it; WS_CLUSTER_RUN_DIR wins; over-long socket paths go to XDG_RUNTIME_DIR or a recorded private folder', async () => {
  const baseline = openFdCount()
  const state = runStateFor('/srv/app/ws-cluster.config.json', {}, '/')
  assert.equal(state.dir, '/srv/app/.ws-cluster')
  assert.match(state.pidFile, /^\/srv\/app\/\.ws-cluster\/ws-cluster\.config-[0-9a-f]{8}\.pid$/)
  assert.equal(state.controlSocket, state.pidFile.replace(/\.pid$/, '.sock'))
  assert.equal(state.configFile, '/srv/app/ws-cluster.config.json')
  const other = runStateFor('/srv/app/second.json', {}, '/')
  assert.equal(other.dir, state.dir)
  assert.notEqual(other.pidFile, state.pidFile, 'two configs in one folder have their own pid file')
  assert.notEqual(other.controlSocket, state.controlSocket)
  const shared = { WS_CLUSTER_RUN_DIR: 'run' }
  assert.equal(runStateFor('/srv/app/x.json', shared, '/var').dir, '/var/run')
  assert.notEqual(runStateFor('/srv/app/x.json', shared, '/').pidFile, runStateFor('/srv/other/x.json', shared, '/').pidFile, 'same name, other folder: other state')
  assert.equal(runStateFor(null, {}, '/work').dir, '/work/.ws-cluster')
  const deep = `/${'d'.repeat(120)}/ws-cluster.config.json`
  const inRuntime = runStateFor(deep, { XDG_RUNTIME_DIR: '/run/user/1000' }, '/')
  assert.match(inRuntime.controlSocket ?? '', /^\/run\/user\/1000\/ws-cluster\/[0-9a-f]{16}\.sock$/)
  assert.equal(runStateFor(deep, { XDG_RUNTIME_DIR: '/run/user/1000' }, '/').controlSocket, inRuntime.controlSocket, 'stable, so the CLI finds it again')
  const recorded = runStateFor(deep, {}, '/')
  assert.equal(recorded.controlSocket, null, 'no fixed path in the shared temp folder')
  assert.equal(recorded.socketRecord, recorded.pidFile.replace(/\.pid$/, '.sock-path'))
  await assertNoFdLeak(baseline)
})

test('R63 a claimed run folder is private; an over-long socket path lives in a fresh 0700 folder the CLI finds through the record', async (t) => {
  const baseline = openFdCount()
  const root = mkdtempSync(join(tmpdir(), 'wsc-run-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const deepDir = join(root, 'd'.repeat(90))
  const state = runStateFor(join(deepDir, 'ws-cluster.config.json'), {}, '/')
  assert.equal(state.controlSocket, null)
  mkdirSync(state.dir, { recursive: true, mode: 0o755 })
  chmodSync(state.dir, 0o755)
  const socket = claimRunState(state)
  assert.equal(statSync(state.dir).mode & 0o777, 0o700, 'a looser existing run folder is made private')
  assert.equal(statSync(dirname(socket)).mode & 0o777, 0o700)
  assert.ok(!dirname(socket).startsWith(state.dir))
  assert.equal(controlSocketOf(state), socket)
  assert.equal(readFileSync(state.pidFile, 'utf8'), `${process.pid}\n`)
  releaseRunState(state, socket)
  assert.equal(existsSync(dirname(socket)), false)
  assert.equal(existsSync(state.pidFile), false)
  assert.equal(controlSocketOf(state), null)
  await assertNoFdLeak(baseline)
})
