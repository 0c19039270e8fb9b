import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { BalanceMethod, ResolvedServer, ResolvedUpstream } from '../plugin/options/options-types.js'
import { UpstreamGroup } from '../plugin/upstream/upstream-group.js'
import type { UpstreamServer } from '../plugin/upstream/upstream-server.js'
import { ketamaHostPort } from '../plugin/upstream/consistent-hash.js'
import { crc32, crc32OfText, crc32Portable } from '../plugin/upstream/crc32.js'

// Recorded from a real nginx 1.22.1 (see its "about"). This fixture is the
// source of truth for the balancers; nothing outside the repo is consulted.
const fixtureUrl = new URL('../../test/fixtures/nginx-vectors.json', import.meta.url)

type Table = Record<string, string>
interface Vectors {
  servers: Record<string, string>
  hash_consistent_equal: Table
  hash_consistent_weights_1_2_3: Table
  hash_consistent_A_C_only: Table
  ip_hash_equal: Table
  ip_hash_weights_1_2_3: Table
  round_robin_weights_5_1_1_sequence: string
}

const vectors = JSON.parse(readFileSync(fixtureUrl, 'utf8')) as Vectors

function server (label: string, weight: number): ResolvedServer {
  const [host, port] = vectors.servers[label].split(':')
  return {
    url: `http://${vectors.servers[label]}`,
    protocol: 'http:',
    host,
    port: Number(port),
    weight,
    maxFails: 1,
    failTimeout: 10_000,
    maxConns: 0,
    backup: false,
    down: false
  }
}

/** A group of the named servers (A/B/C) with their weights, in that order, like the recorded nginx config. */
function group (balance: BalanceMethod, weights: Record<string, number>): UpstreamGroup {
  const config: ResolvedUpstream = {
    name: 'vectors',
    balance,
    hashKey: { source: 'query', name: 'key' },
    servers: Object.entries(weights).map(([label, weight]) => server(label, weight)),
    keepalive: 0,
    tls: { ca: null, servername: null, rejectUnauthorized: true }
  }
  return new UpstreamGroup(config)
}

function labelOf (picked: UpstreamServer | undefined): string {
  assert.ok(picked !== undefined, 'a server is picked')
  const entry = Object.entries(vectors.servers).find(([, hostPort]) => picked.id === `http://${hostPort}`)
  assert.ok(entry !== undefined, `picked server ${picked.id} is one of the vector servers`)
  return entry[0]
}

const none: ReadonlySet<UpstreamServer> = new Set()

test('crc32: the native and the table fallback agree, and chaining equals hashing the concatenation', () => {
  const data = Buffer.from('127.0.0.1\u000018001\u0001\u0002\u0003\u0004', 'latin1')
  assert.equal(crc32(data), crc32Portable(data))
  assert.equal(crc32(Buffer.from('hello')), 0x3610A686)
  assert.equal(crc32Portable(Buffer.from('hello')), 0x3610A686)
  assert.equal(crc32(data.subarray(12), crc32(data.subarray(0, 12))), crc32(data))
  assert.equal(crc32OfText('caf\u00e9'), crc32(Buffer.from([0x63, 0x61, 0x66, 0xE9])))
  assert.equal(crc32OfText('user:42'), crc32(Buffer.from('user:42')))
  // Varied lengths and split points: the fallback used on Node < 20.15 gives the same ketama ring.
  for (let length = 0; length < 300; length += 7) {
    const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 131 + length) & 0xFF))
    const split = length >> 1
    assert.equal(crc32Portable(bytes), crc32(bytes), `length ${length}`)
    assert.equal(crc32Portable(bytes.subarray(split), crc32Portable(bytes.subarray(0, split))), crc32(bytes))
  }
})

test('R27 ketama splits host and port as nginx splits the server text', () => {
  assert.deepEqual(ketamaHostPort('http://127.0.0.1:18001'), { host: '127.0.0.1', port: '18001' })
  assert.deepEqual(ketamaHostPort('http://127.0.0.1:18001/ws?x=1'), { host: '127.0.0.1', port: '18001' })
  assert.deepEqual(ketamaHostPort('https://[::1]:9001/'), { host: '[::1]', port: '9001' })
  assert.deepEqual(ketamaHostPort('http://backend.local'), { host: 'backend.local', port: '' })
})

test('R21 smooth weighted round-robin with weights 5,1,1 repeats nginx\'s recorded sequence', () => {
  const g = group('round-robin', { A: 5, B: 1, C: 1 })
  const expected = vectors.round_robin_weights_5_1_1_sequence
  let got = ''
  for (let i = 0; i < expected.length; i++) {
    got += labelOf(g.pick({ clientAddress: '127.0.0.1', hashKey: '' }, none, 0))
  }
  assert.equal(got, expected)
  assert.equal(got.slice(0, 7), 'AABACAA')
})

const ipTables: Array<[string, Record<string, number>]> = [
  ['ip_hash_equal', { A: 1, B: 1, C: 1 }],
  ['ip_hash_weights_1_2_3', { A: 1, B: 2, C: 3 }]
]

for (const [table, weights] of ipTables) {
  const entries = Object.entries(vectors[table as keyof Vectors] as Table)
  test(`R26 ip-hash matches nginx for every address of ${table} (${entries.length} addresses)`, () => {
    assert.ok(entries.length > 0)
    const g = group('ip-hash', weights)
    for (const [address, label] of entries) {
      assert.equal(labelOf(g.pick({ clientAddress: address, hashKey: '' }, none, 0)), label, `client ${address}`)
    }
  })
}

test('R26 ip-hash vector from the reference: 127.0.0.1 over three equal servers goes to the third', () => {
  const g = group('ip-hash', { A: 1, B: 1, C: 1 })
  assert.equal(labelOf(g.pick({ clientAddress: '127.0.0.1', hashKey: '' }, none, 0)), 'C')
})

const chashTables: Array<[string, Record<string, number>]> = [
  ['hash_consistent_equal', { A: 1, B: 1, C: 1 }],
  ['hash_consistent_weights_1_2_3', { A: 1, B: 2, C: 3 }],
  ['hash_consistent_A_C_only', { A: 1, C: 1 }]
]

for (const [table, weights] of chashTables) {
  const entries = Object.entries(vectors[table as keyof Vectors] as Table)
  test(`R27 consistent hash matches nginx for every key of ${table} (${entries.length} keys)`, () => {
    assert.ok(entries.length > 0)
    const g = group('hash', weights)
    for (const [key, label] of entries) {
      assert.equal(labelOf(g.pick({ clientAddress: '127.0.0.1', hashKey: key }, none, 0)), label, `key ${key}`)
    }
  })
}
