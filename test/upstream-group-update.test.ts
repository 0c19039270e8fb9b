import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BalanceMethod } from '../plugin/options/options-types.js'
import { byPort, group, none, sequence, server, T0, ctx, type ServerSpec } from './helpers/upstream-group-fixtures.js'

// R99: an update reconfigures a group in place; pure in-process tests, no sockets.

function config (balance: BalanceMethod, specs: ServerSpec[]): Parameters<ReturnType<typeof group>['reconfigure']>[0] {
  return { name: 'test', balance, hashKey: { source: 'remote-addr' }, servers: specs.map(server), keepalive: 0, tls: { ca: null, servername: null, rejectUnauthorized: true } }
}

test('R99 a server kept by an update keeps its health and its open connections; added servers are used, removed ones returned', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2 }, { port: 3 }])
  const a = byPort(g, 1)
  const b = byPort(g, 2)
  g.recordFailure(a, T0)
  g.acquire(b)
  g.acquire(b)
  const { removed, down } = g.reconfigure(config('round-robin', [{ port: 1 }, { port: 2, weight: 3 }, { port: 4 }]))
  assert.deepEqual(removed.map(s => s.config.port), [3])
  assert.deepEqual(down, [])
  assert.equal(byPort(g, 1), a, 'the same server object, not a new one')
  assert.equal(a.state(T0 + 1000), 'failed', 'its failure window survived')
  assert.equal(byPort(g, 2).active, 2, 'its open connections are still counted')
  assert.equal(b.config.weight, 3)
  const picks = sequence(g, 8, T0 + 1000)
  assert.deepEqual([...new Set(picks)].sort(), [2, 4], `the failed server is skipped, the new one used (${picks.join(',')})`)
  assert.equal(picks.filter(p => p === 2).length, 6, 'weight 3 against 1')
})

test('R99 R24 least-conn after an update still counts the tunnels opened before it', () => {
  const g = group('round-robin', [{ port: 1 }, { port: 2 }])
  g.acquire(byPort(g, 1))
  g.acquire(byPort(g, 1))
  g.reconfigure(config('least-conn', [{ port: 1 }, { port: 2 }]))
  assert.equal(g.pick(ctx, none, T0)?.config.port, 2)
  g.acquire(byPort(g, 2))
  g.acquire(byPort(g, 2))
  g.acquire(byPort(g, 2))
  assert.equal(g.pick(ctx, none, T0)?.config.port, 1)
})

test('R100 an update that marks a server down returns it, and it is never picked again', () => {
  const g = group('ip-hash', [{ port: 1 }, { port: 2 }])
  const { down } = g.reconfigure(config('ip-hash', [{ port: 1, down: true }, { port: 2 }]))
  assert.deepEqual(down.map(s => s.config.port), [1])
  assert.equal(byPort(g, 1).retired, 'server-down')
  for (const address of ['127.0.0.1', '10.1.2.3', '192.168.7.9']) {
    assert.equal(g.pick({ clientAddress: address, hashKey: '' }, none, T0)?.config.port, 2)
  }
})
