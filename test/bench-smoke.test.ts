import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PATHS, startBackend } from '../bench/paths.js'
import { runWorkload } from '../bench/workload-runner.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

/**
 * Proves the benchmark harness still works — real echo backend and real proxy
 * processes, the bench's own load client — with a few hundred round trips per
 * Node path. It asserts completion, zero errors and that the CPU figure is a
 * number; it never asserts a speed (bench/README.md: benchmarks are not timed tests).
 */

const SMOKE_PATHS = ['direct', 'netpipe', 'wsc-plugin', 'wsc-relay-pool', 'fastify-http-proxy', 'http-proxy']
const ROUND_TRIPS = 300

for (const id of SMOKE_PATHS) {
  const path = PATHS.find((p) => p.id === id)
  assert.ok(path, `bench path ${id} exists`)
  const skip = path.skipReason()

  test(`R38 bench smoke: ${ROUND_TRIPS} round trips through ${id}, zero errors, finite proxy CPU figure, no fd leak`, { skip: skip ?? false, timeout: 25_000 }, async () => {
    const baseline = openFdCount()
    const backend = await startBackend()
    let running: Awaited<ReturnType<typeof path.start>> | null = null
    try {
      running = await path.start([backend.port], { maxConnections: 100 })
      const watched = { proxyRoot: running.pid, harness: [process.pid, backend.pid] }
      const outcome = await runWorkload(running.port, watched, {
        kind: 'closed-loop',
        id: 'smoke',
        connections: 10,
        size: 64,
        warmupMs: 50,
        // Only an upper bound: the loop stops as soon as ROUND_TRIPS echoes came back.
        durationMs: 15_000,
        roundTrips: ROUND_TRIPS
      })
      assert.equal(outcome.kind, 'closed-loop')
      if (outcome.kind !== 'closed-loop') return
      const r = outcome.result
      assert.equal(r.firstError, null)
      assert.equal(r.errors, 0)
      assert.ok(r.roundTrips >= ROUND_TRIPS, `${r.roundTrips} round trips completed`)
      assert.equal(r.latency.count, r.roundTrips)
      if (id === 'direct') {
        assert.equal(r.proxyCpuUsPerRoundTrip, 0)
      } else {
        assert.ok(Number.isFinite(r.proxyCpuUsPerRoundTrip), `proxy CPU figure ${r.proxyCpuUsPerRoundTrip} is finite`)
        assert.ok(r.proxyCpuUsPerRoundTrip >= 0)
      }
    } finally {
      await running?.stop()
      await backend.stop()
    }
    await assertNoFdLeak(baseline)
  })
}

const relay = PATHS.find((p) => p.id === 'wsc-relay')
assert.ok(relay, 'bench path wsc-relay exists')

test('R38 bench smoke: the slow-consumer workload (W6) through wsc-relay gets every echo back, with a finite memory figure and no fd leak', { skip: relay.skipReason() ?? false, timeout: 60_000 }, async () => {
  const baseline = openFdCount()
  const backend = await startBackend()
  let running: Awaited<ReturnType<typeof relay.start>> | null = null
  try {
    running = await relay.start([backend.port], { maxConnections: 100 })
    const outcome = await runWorkload(running.port, { proxyRoot: running.pid, harness: [process.pid, backend.pid] }, {
      kind: 'slow-consumer', id: 'smoke-slow', bytes: 4 * 1024 * 1024, settleMs: 100
    })
    assert.equal(outcome.kind, 'slow-consumer')
    if (outcome.kind !== 'slow-consumer') return
    assert.equal(outcome.result.firstError, null)
    assert.equal(outcome.result.errors, 0)
    assert.ok(Number.isFinite(outcome.result.rssGrowthKiB), `RSS growth ${outcome.result.rssGrowthKiB} KiB is finite`)
  } finally {
    await running?.stop()
    await backend.stop()
  }
  await assertNoFdLeak(baseline)
})

/** True while a process with this pid exists (signal 0 only checks). */
function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const STORM = 50

for (const id of ['netpipe', 'wsc-plugin']) {
  const path = PATHS.find((p) => p.id === id)
  assert.ok(path, `bench path ${id} exists`)
  test(`R38 bench smoke: a ${STORM}-client storm (W7) through ${id} opens every client, kills backend A, accounts for every lost client, and leaves no process or fd behind`, { skip: path.skipReason() ?? false, timeout: 90_000 }, async () => {
    const baseline = openFdCount()
    const a = await startBackend()
    const b = await startBackend()
    let running: Awaited<ReturnType<typeof path.start>> | null = null
    try {
      running = await path.start([a.port, b.port], { maxConnections: STORM })
      const outcome = await runWorkload(running.port, { proxyRoot: running.pid, harness: [process.pid, a.pid, b.pid] }, {
        kind: 'storm', id: 'smoke-storm', connections: STORM, killPid: a.pid, killNote: null, phaseTimeoutMs: 30_000
      })
      assert.equal(outcome.kind, 'storm')
      if (outcome.kind !== 'storm') return
      const r = outcome.result
      assert.equal(r.firstError, null)
      assert.equal(r.errors, 0)
      assert.equal(r.opened, STORM)
      assert.ok(Number.isFinite(r.proxyCpuUsPerUpgrade), `proxy CPU figure ${r.proxyCpuUsPerUpgrade} is finite`)
      const k = r.kill
      assert.ok(k !== null, 'the kill phase ran')
      assert.ok(k.lost > 0 && k.lost < STORM, `${k.lost} clients lost their connection: those of A only`)
      assert.equal(k.reconnected + k.neverReconnected, k.lost)
      assert.equal(k.droppedAgain, 0)
      assert.equal(alive(a.pid), false, 'backend A is gone')
      if (id === 'wsc-plugin') {
        // Passive health moves every client to B; netpipe has none, so a client may hit the dead backend five times running.
        assert.equal(k.neverReconnected, 0)
        assert.equal(k.reconnected, k.lost)
      }
    } finally {
      await running?.stop()
      await a.stop()
      await b.stop()
    }
    if (running !== null) assert.equal(alive(running.pid), false, 'the proxy process is gone')
    assert.equal(alive(b.pid), false, 'backend B is gone')
    await assertNoFdLeak(baseline)
  })
}
