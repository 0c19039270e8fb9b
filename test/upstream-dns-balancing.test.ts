import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validateOptions } from '../plugin/options/options-validate.js'
import type { ResolvedServer, ResolvedUpstream } from '../plugin/options/options-types.js'
import { serversForAddresses, serversForSrv } from '../plugin/upstream/dns-servers.js'
import { UpstreamGroup, type PickContext } from '../plugin/upstream/upstream-group.js'
import type { UpstreamServer } from '../plugin/upstream/upstream-server.js'

/*
 * R48: the balancers over a set that DNS changes. These tests drive the
 * group directly with the servers a resolution produces (the addresses are
 * never connected to); plugin-dns-upstreams.test.ts covers the same path
 * with a real DNS server, backends and clients.
 */

const T0 = 1_000_000
const none: ReadonlySet<UpstreamServer> = new Set()

/** A group validated from plugin options, as the plugin builds it. */
function groupOf (upstream: Record<string, unknown>): UpstreamGroup {
  const { options, problems } = validateOptions({ upstreams: { g: upstream }, routes: [{ path: '/ws', upstream: 'g' }] })
  assert.deepEqual(problems, [])
  return new UpstreamGroup(options?.upstreams.get('g') as ResolvedUpstream)
}

/** Gives entry `index` the servers of `addresses`, as a resolution does. */
function resolveTo (group: UpstreamGroup, index: number, addresses: string[]): ReturnType<UpstreamGroup['setEntryServers']> {
  return group.setEntryServers(index, serversForAddresses(group.config.servers[index], addresses))
}

const hosts = (n: number, from = 11): string[] => Array.from({ length: n }, (_, i) => `127.0.0.${from + i}`)

function keyMap (group: UpstreamGroup, keys: number): string[] {
  const out: string[] = []
  for (let i = 0; i < keys; i++) out.push(group.pick({ clientAddress: '127.0.0.1', hashKey: `user-${i}` }, none, T0)?.id ?? 'none')
  return out
}

test('R48 consistent hash: adding an address moves about 1/n of the keys, all of them to the new server; removing one moves only its keys', () => {
  const group = groupOf({ balance: 'hash', hashKey: 'header:x-user', servers: ['http://pods.dns.test:9000'] })
  resolveTo(group, 0, hosts(4))
  const KEYS = 20_000
  const before = keyMap(group, KEYS)

  resolveTo(group, 0, hosts(5))
  const added = keyMap(group, KEYS)
  const moved = added.filter((id, i) => id !== before[i])
  assert.ok(moved.every(id => id === 'http://127.0.0.15:9000'), 'keys move only to the added server')
  const share = moved.length / KEYS
  assert.ok(share > 0.6 / 5 && share < 1.4 / 5, `moved ${share} of the keys, expected about 1/5`)

  resolveTo(group, 0, hosts(5).filter(host => host !== '127.0.0.12'))
  const removed = keyMap(group, KEYS)
  for (let i = 0; i < KEYS; i++) {
    if (added[i] !== 'http://127.0.0.12:9000') assert.equal(removed[i], added[i], `key ${i} was not on the removed server and stays`)
    else assert.notEqual(removed[i], added[i])
  }
  const lost = added.filter(id => id === 'http://127.0.0.12:9000').length / KEYS
  assert.ok(lost > 0.6 / 5 && lost < 1.4 / 5, `the removed server held ${lost} of the keys`)
})

test('R48 consistent hash: a resolved address hashes as "ip:port", so keys land where nginx puts them for `server ip:port`, whatever the answer order', () => {
  const literal = groupOf({ balance: 'hash', hashKey: 'header:x-user', servers: hosts(4).map(host => `http://${host}:9000`) })
  const resolved = groupOf({ balance: 'hash', hashKey: 'header:x-user', servers: ['http://pods.dns.test:9000'] })
  resolveTo(resolved, 0, [...hosts(4)].reverse())
  assert.deepEqual(keyMap(resolved, 5000), keyMap(literal, 5000))
})

test('R48 smooth weighted round-robin restarts smooth over the new set: 5,1,1 after a name gains an address gives A A B A C A A', () => {
  const group = groupOf({ servers: [{ url: 'http://127.0.0.1:9001', weight: 5 }, 'http://pods.dns.test:9000'] })
  resolveTo(group, 1, hosts(1))
  // Leave the running weights mid-sequence before the change.
  for (let i = 0; i < 3; i++) group.pick({ clientAddress: '', hashKey: '' }, none, T0)
  resolveTo(group, 1, hosts(2))
  const names: Record<string, string> = { 'http://127.0.0.1:9001': 'A', 'http://127.0.0.11:9000': 'B', 'http://127.0.0.12:9000': 'C' }
  const seen = Array.from({ length: 14 }, () => names[group.pick({ clientAddress: '', hashKey: '' }, none, T0)?.id ?? ''])
  assert.deepEqual(seen.join(''), 'AABACAAAABACAA')
})

test('R48 round-robin with equal weights: across additions and removals every window of n picks reaches each server once', () => {
  const group = groupOf({ servers: ['http://pods.dns.test:9000'] })
  const ctx: PickContext = { clientAddress: '', hashKey: '' }
  for (const set of [hosts(2), hosts(3), hosts(5), hosts(4, 12), hosts(2, 13)]) {
    resolveTo(group, 0, set)
    const picks = Array.from({ length: set.length * 4 }, () => group.pick(ctx, none, T0)?.id)
    for (let i = 0; i + set.length <= picks.length; i++) {
      assert.equal(new Set(picks.slice(i, i + set.length)).size, set.length, `window at ${i} over ${set.join(',')}: ${picks.join(' ')}`)
    }
  }
})

test('R48 least-conn: servers that stay keep their open connections and health; a new server fills up first', () => {
  const group = groupOf({ balance: 'least-conn', servers: ['http://pods.dns.test:9000'] })
  resolveTo(group, 0, hosts(2))
  const [a, b] = group.servers
  group.acquire(a)
  group.acquire(a)
  group.acquire(b)
  group.recordFailure(b, T0)
  assert.equal(b.state(T0), 'failed')

  const change = resolveTo(group, 0, hosts(3))
  assert.deepEqual(change.added.map(server => server.id), ['http://127.0.0.13:9000'])
  assert.deepEqual(change.removed, [])
  assert.equal(group.servers[0], a, 'the same server object, with its state')
  assert.equal(a.active, 2)
  assert.equal(group.servers[1].state(T0), 'failed', 'a failed server stays failed')
  const c = group.servers[2]
  const picked = group.pick({ clientAddress: '', hashKey: '' }, none, T0)
  assert.equal(picked, c)
  group.acquire(c)
  group.acquire(c)
  // c and a now both hold 2 (b is failed): the tie is shared, never b.
  const next = group.pick({ clientAddress: '', hashKey: '' }, none, T0)
  assert.ok(next === a || next === c)
})

test('R48 ip-hash over a changed set picks what a group configured with that set picks (nginx rebuilds its peer list)', () => {
  const group = groupOf({ balance: 'ip-hash', servers: ['http://pods.dns.test:9000'] })
  resolveTo(group, 0, hosts(3))
  resolveTo(group, 0, hosts(4))
  const fresh = groupOf({ balance: 'ip-hash', servers: hosts(4).map(host => `http://${host}:9000`) })
  for (let i = 0; i < 256; i++) {
    const ctx = { clientAddress: `198.51.${i}.7`, hashKey: '' }
    assert.equal(group.pick(ctx, none, T0)?.id, fresh.pick(ctx, none, T0)?.id, `client ${ctx.clientAddress}`)
  }
})

test('R45 a removed server with open connections is listed as draining until they end; an address that comes back keeps its state', () => {
  const group = groupOf({ servers: ['http://pods.dns.test:9000'] })
  resolveTo(group, 0, hosts(2))
  const b = group.servers[1]
  group.acquire(b)
  const change = resolveTo(group, 0, hosts(1))
  assert.deepEqual(change.removed, [b])
  assert.deepEqual(group.stats(T0).servers.map(s => [s.url, s.draining === true, s.name]), [
    ['http://127.0.0.11:9000', false, 'http://pods.dns.test:9000'],
    ['http://127.0.0.12:9000', true, 'http://pods.dns.test:9000']
  ])
  for (let i = 0; i < 4; i++) assert.notEqual(group.pick({ clientAddress: '', hashKey: '' }, none, T0), b)

  resolveTo(group, 0, hosts(2))
  assert.equal(group.servers[1], b, 'the address came back before its tunnel ended: same server, same count')
  assert.equal(b.active, 1)
  resolveTo(group, 0, hosts(1))
  group.release(b)
  assert.deepEqual(group.stats(T0).servers.map(s => s.url), ['http://127.0.0.11:9000'])
})

test('R47 SRV records: lowest priority primaries, others backups; a backup entry keeps only the lowest as backups; weights 0 and above 1000 are bounded; an entry weight wins', () => {
  const base: ResolvedServer = {
    url: 'http://_ws._tcp.chat.dns.test',
    protocol: 'http:',
    host: '_ws._tcp.chat.dns.test',
    port: 80,
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false,
    srv: true
  }
  const entry = (extra: Partial<ResolvedServer> = {}): ResolvedServer => ({ ...base, ...extra })
  const targets = [
    { target: 'b.dns.test', port: 9002, priority: 10, weight: 0, addresses: ['127.0.0.12'] },
    { target: 'a.dns.test', port: 9001, priority: 10, weight: 70_000, addresses: ['127.0.0.11', '::1'] },
    { target: 'c.dns.test', port: 9003, priority: 30, weight: 2, addresses: ['127.0.0.13'] }
  ]
  assert.deepEqual(serversForSrv(entry(), targets).map(s => [s.url, s.weight, s.backup, s.dns?.hostname]), [
    ['http://127.0.0.11:9001', 1000, false, 'a.dns.test'],
    ['http://127.0.0.12:9002', 1, false, 'b.dns.test'],
    ['http://127.0.0.13:9003', 2, true, 'c.dns.test'],
    ['http://[::1]:9001', 1000, false, 'a.dns.test']
  ])
  assert.deepEqual(serversForSrv(entry({ backup: true, weight: 4 }), targets).map(s => [s.url, s.weight, s.backup]), [
    ['http://127.0.0.11:9001', 4, true],
    ['http://127.0.0.12:9002', 4, true],
    ['http://[::1]:9001', 4, true]
  ])
})

test('R49 options: resolveInterval, resolver and srv are checked with the option path, the value and what is allowed', () => {
  const problems = (upstream: Record<string, unknown>): string[] =>
    validateOptions({ upstreams: { g: upstream }, routes: [{ path: '/ws', upstream: 'g' }] }).problems.map(p => `${p.path}: ${p.message}`)
  assert.deepEqual(problems({ servers: ['http://chat.default.svc.cluster.local:9000'], resolveInterval: '10s', resolver: ['10.96.0.10', '127.0.0.1:5353', '[::1]:53'] }), [])
  assert.deepEqual(problems({ servers: ['http://chat:9000'], resolveInterval: '10ms' }), [
    'upstreams.g.resolveInterval: got "10ms"; allowed: a duration from "100ms" to "24h"'
  ])
  assert.deepEqual(problems({ servers: ['http://chat:9000'], resolver: ['dns.example:53'] }), [
    'upstreams.g.resolver[0]: got "dns.example:53"; allowed: a DNS server address such as "10.96.0.10", "10.96.0.10:53" or "[fd00::10]:53"'
  ])
  assert.deepEqual(problems({ servers: ['http://chat:9000'], resolver: [] }), [
    'upstreams.g.resolver: got []; allowed: a non-empty array of DNS server addresses such as "10.96.0.10", "10.96.0.10:53" or "[fd00::10]:53"'
  ])
  assert.deepEqual(problems({ servers: [{ url: 'http://_ws._tcp.chat:9000', srv: true }, { url: 'http://127.0.0.1', srv: true }, { url: 'http://x', srv: 'yes' }] }), [
    'upstreams.g.servers[0].url: got "http://_ws._tcp.chat:9000"; allowed: with srv: true, no port in the URL (the SRV records give the ports), e.g. "http://_ws._tcp.chat.example"',
    'upstreams.g.servers[1].url: got "http://127.0.0.1"; allowed: with srv: true, a URL whose host is an SRV name such as "http://_ws._tcp.chat.example"',
    'upstreams.g.servers[2].srv: got "yes"; allowed: true or false'
  ])
})
