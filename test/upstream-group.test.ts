import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { UpstreamServer } from '../plugin/upstream/upstream-server.js'
import { byPort, ctx, group, none, sequence, T0 } from './helpers/upstream-group-fixtures.js'

// Pure in-process tests of group state (health, backups, limits, stats): no sockets are opened.

test('R22 maxFails=1: a failure skips the server for failTimeout, then it is used again', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  assert.equal(a.state(T0), 'failed')
  assert.equal(a.failedUntil(T0), T0 + 10_000)
  assert.deepEqual(sequence(g, 4, T0 + 5_000), [2, 2, 2, 2])
  assert.equal(a.state(T0 + 10_001), 'up')
  // One pick probes it; until that attempt's outcome it stays skipped.
  const probing = sequence(g, 4, T0 + 10_001)
  assert.equal(probing.filter(port => port === 1).length, 1, `picks ${probing.join(',')}`)
  assert.equal(a.state(T0 + 10_001), 'failed')
  g.recordSuccess(a, T0 + 10_002)
  assert.equal(a.state(T0 + 10_002), 'up')
  assert.deepEqual(sequence(g, 4, T0 + 10_003).sort(), [1, 1, 2, 2])
  assert.equal(a.failures, 1)
})

test('R22 a failed probe after failTimeout skips the server for another failTimeout', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  assert.ok(sequence(g, 2, T0 + 10_001).includes(1))
  g.recordFailure(a, T0 + 10_005)
  assert.equal(a.failedUntil(T0 + 10_005), T0 + 20_005)
  assert.deepEqual(sequence(g, 3, T0 + 20_000), [2, 2, 2])
})

test('R22 maxFails=3 counts failures within the window; fewer keep the server in use', () => {
  const g = group('round-robin', [{ port: 1, maxFails: 3 }, { port: 2 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  g.recordFailure(a, T0 + 1_000)
  assert.equal(a.state(T0 + 1_000), 'up')
  assert.ok(sequence(g, 6, T0 + 1_000).includes(1))
  g.recordFailure(a, T0 + 2_000)
  assert.equal(a.state(T0 + 2_000), 'failed')
  assert.equal(a.failedUntil(T0 + 2_000), T0 + 12_000)
  assert.deepEqual(sequence(g, 3, T0 + 3_000), [2, 2, 2])
})

test('R22 maxFails=0 never skips a server however often it fails', () => {
  const g = group('round-robin', [{ port: 1, maxFails: 0 }, { port: 2 }])
  const a = byPort(g, 1)
  for (let i = 0; i < 10; i++) g.recordFailure(a, T0)
  assert.equal(a.state(T0), 'up')
  assert.equal(a.failures, 10)
  assert.ok(sequence(g, 4, T0).includes(1))
})

test('R22 a group with one server keeps using it after failures', () => {
  const g = group('round-robin', [{ port: 1 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  g.recordFailure(a, T0)
  assert.equal(a.state(T0), 'failed')
  assert.equal(g.pick(ctx, none, T0), a)
  for (const method of ['least-conn', 'ip-hash', 'hash', 'random-two'] as const) {
    const single = group(method, [{ port: 1 }])
    single.recordFailure(single.servers[0], T0)
    assert.equal(single.pick({ clientAddress: '127.0.0.1', hashKey: 'k' }, none, T0), single.servers[0], method)
  }
})

test('R22 R23 a single primary with a backup is skipped when failed, so the backup takes over', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2, backup: true }])
  g.recordFailure(byPort(g, 1), T0)
  assert.deepEqual(sequence(g, 2, T0 + 1), [2, 2])
  // After failTimeout one pick probes the primary; the rest wait for its outcome (nginx semantics).
  assert.deepEqual(sequence(g, 2, T0 + 10_001), [1, 2])
  g.recordSuccess(byPort(g, 1), T0 + 10_002)
  assert.deepEqual(sequence(g, 2, T0 + 10_003), [1, 1])
})

test('R22 a success clears the count only after a full failTimeout since the failure window opened', () => {
  const g = group('round-robin', [{ port: 1, maxFails: 2 }, { port: 2 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  // A success inside the window does not forgive the failure (nginx semantics).
  g.recordSuccess(a, T0 + 1_000)
  g.recordFailure(a, T0 + 2_000)
  assert.equal(a.state(T0 + 2_000), 'failed')

  const h = group('round-robin', [{ port: 1, maxFails: 2 }, { port: 2 }])
  const b = byPort(h, 1)
  h.recordFailure(b, T0)
  // A pick after the window opens a new one; the success there resets the count.
  const later = T0 + 10_001
  let picked: UpstreamServer | undefined
  for (let i = 0; i < 2 && picked !== b; i++) picked = h.pick(ctx, none, later)
  assert.equal(picked, b)
  h.recordSuccess(b, later)
  h.recordFailure(b, later + 1)
  assert.equal(b.state(later + 1), 'up')
  assert.equal(b.fails, 1)
})

test('R22 a failure lowers a server\'s round-robin share, which recovers with later picks', () => {
  const g = group('round-robin', [{ port: 1, weight: 4, maxFails: 4 }, { port: 2, weight: 4 }])
  const a = byPort(g, 1)
  g.recordFailure(a, T0)
  assert.equal(a.effectiveWeight, 3)
  sequence(g, 4, T0)
  assert.equal(a.effectiveWeight, 4)
})

test('R23 backups are used only when every primary is unavailable; down servers never', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2, down: true }, { port: 3, backup: true }])
  assert.deepEqual(sequence(g, 4), [1, 1, 1, 1])
  assert.equal(byPort(g, 2).state(), 'down')
  g.recordFailure(byPort(g, 1), T0)
  assert.deepEqual(sequence(g, 3, T0 + 1), [3, 3, 3])
  g.recordFailure(byPort(g, 3), T0)
  assert.equal(g.pick(ctx, none, T0 + 1), undefined)
  assert.equal(g.lastPickFailure, 'no-live-upstreams')
  assert.deepEqual(sequence(g, 2, T0 + 10_001), [1, 3])
  assert.equal(g.lastPickFailure, null)
  g.recordSuccess(byPort(g, 1), T0 + 10_002)
  assert.deepEqual(sequence(g, 2, T0 + 10_003), [1, 1])
})

test('R23 a down server is never picked even when it is the only one', () => {
  const g = group('round-robin', [{ port: 1, down: true }])
  assert.equal(g.pick(ctx, none, T0), undefined)
  assert.equal(g.lastPickFailure, 'no-live-upstreams')
})

/**
 * A random source that repeats every 7 draws. While the primaries are all
 * failed, random-two spends exactly 21 draws on them (3 whole cycles) before
 * the backups are asked, so the backups see the same draws as a group made
 * of the backups alone: the two can be compared pick by pick.
 */
function cyclingRandom (): () => number {
  const cycle = [0.1, 0.6, 0.3, 0.8, 0.2, 0.9, 0.45]
  let next = 0
  return () => cycle[next++ % cycle.length]
}

test('R23 every balancer falls back to backups, with the backups balanced by the same method (pick for pick as a group of the backups alone)', () => {
  for (const method of ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two'] as const) {
    // Unequal backup weights, so that the methods disagree and a wrong one shows.
    const backups = [{ port: 3, weight: 3 }, { port: 4, weight: 1 }, { port: 5, weight: 2 }]
    const g = group(method, [{ port: 1 }, { port: 2 }, ...backups.map(b => ({ ...b, backup: true }))], cyclingRandom())
    const alone = group(method, backups, cyclingRandom())
    g.recordFailure(byPort(g, 1), T0)
    g.recordFailure(byPort(g, 2), T0)
    const picks = (target: typeof g): number[] => Array.from({ length: 24 }, (_, i) => {
      const picked = target.pick({ clientAddress: `127.0.${i}.1`, hashKey: `key${i}` }, none, T0 + 1)
      assert.ok(picked !== undefined, `${method}: pick ${i}`)
      // Held, so that least-conn and random-two see the load they created.
      target.acquire(picked)
      return picked.config.port
    })
    const expected = picks(alone)
    assert.deepEqual(picks(g), expected, method)
    assert.ok(new Set(expected).size > 1, `${method}: the backups share the load`)
  }
})

test('R25 maxConns: a full server is skipped; all eligible full gives max-conns; release frees a slot', () => {
  const g = group('round-robin', [{ port: 1, maxConns: 1 }, { port: 2, maxConns: 2 }, { port: 3, down: true }])
  const held: UpstreamServer[] = []
  for (let i = 0; i < 3; i++) {
    const picked = g.pick(ctx, none, T0)
    assert.ok(picked !== undefined)
    g.acquire(picked)
    held.push(picked)
  }
  assert.equal(byPort(g, 1).active, 1)
  assert.equal(byPort(g, 2).active, 2)
  assert.equal(g.pick(ctx, none, T0), undefined)
  assert.equal(g.lastPickFailure, 'max-conns')
  g.release(byPort(g, 1))
  assert.equal(g.pick(ctx, none, T0), byPort(g, 1))
})

test('R25 a failed server and a full one: the reason is max-conns; all failed: no-live-upstreams', () => {
  const g = group('least-conn', [{ port: 1, maxConns: 1 }, { port: 2 }])
  g.acquire(byPort(g, 1))
  g.recordFailure(byPort(g, 2), T0)
  assert.equal(g.pick(ctx, none, T0), undefined)
  assert.equal(g.lastPickFailure, 'max-conns')
  g.recordFailure(byPort(g, 1), T0)
  assert.equal(g.pick(ctx, none, T0), undefined)
  assert.equal(g.lastPickFailure, 'no-live-upstreams')
})

test('R25 maxConns applies to every balancer, and 0 means unlimited', () => {
  for (const method of ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two'] as const) {
    const g = group(method, [{ port: 1, maxConns: 2 }, { port: 2, maxConns: 0 }])
    const context = { clientAddress: '127.0.0.1', hashKey: 'k' }
    for (let i = 0; i < 50; i++) {
      const picked = g.pick(context, none, T0)
      assert.ok(picked !== undefined, method)
      g.acquire(picked)
    }
    assert.ok(byPort(g, 1).active <= 2, method)
    assert.equal(byPort(g, 1).active + byPort(g, 2).active, 50, method)
  }
})

test('R28 servers already tried for a request are excluded (retry-next-server), for every balancer, until none is left', () => {
  for (const method of ['round-robin', 'least-conn', 'ip-hash', 'hash', 'random-two'] as const) {
    const g = group(method, [{ port: 1 }, { port: 2 }, { port: 3 }])
    const tried = new Set<UpstreamServer>()
    const context = { clientAddress: '127.0.0.9', hashKey: 'user:1' }
    for (let i = 0; i < 3; i++) {
      const picked = g.pick(context, tried, T0)
      assert.ok(picked !== undefined, method)
      assert.ok(!tried.has(picked), `${method} picked a tried server`)
      tried.add(picked)
    }
    assert.equal(g.pick(context, tried, T0), undefined, method)
    assert.equal(g.lastPickFailure, 'no-live-upstreams', method)
  }
})

test('stats report every server with state, counters, weight and backup flag', () => {
  const g = group('least-conn', [{ port: 1, weight: 3 }, { port: 2, backup: true }, { port: 3, down: true }])
  const a = byPort(g, 1)
  g.acquire(a)
  g.acquire(a)
  g.release(a)
  g.recordFailure(a, T0)
  assert.deepEqual(g.stats(T0 + 1), {
    name: 'test',
    balance: 'least-conn',
    servers: [
      { url: 'http://127.0.0.1:1', state: 'failed', failedUntil: T0 + 10_000, active: 1, total: 2, failures: 1, weight: 3, backup: false },
      { url: 'http://127.0.0.1:2', state: 'up', failedUntil: null, active: 0, total: 0, failures: 0, weight: 1, backup: true },
      { url: 'http://127.0.0.1:3', state: 'down', failedUntil: null, active: 0, total: 0, failures: 0, weight: 1, backup: false }
    ]
  })
  const viaJson = JSON.parse(JSON.stringify(a)) as { url: string, state: string }
  assert.equal(viaJson.url, 'http://127.0.0.1:1')
  assert.equal(a.id, 'http://127.0.0.1:1')
})
