import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { ipKey } from '../plugin/internal.js'
import { pickSlot } from '../cluster/primary/rendezvous-hash.js'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import type { Whoami } from './helpers/cluster-process.js'
import { proxyV2 } from './helpers/proxy-header.js'

// R64: with limits.ipv6Prefix 64 every address of one IPv6 /64 is one client
// for the primary, so all of them land on one worker. Loopback has one IPv6
// address, so the clients' addresses come in PROXY v2 headers from a trusted peer.

const fixture = useWhoamiCluster({
  config: () => ({
    workers: 2,
    listen: { port: 0, host: '127.0.0.1', proxyProtocol: true, trustedProxies: ['127.0.0.1'] },
    limits: { ipv6Prefix: 64 }
  })
})

async function whoamiFrom (source: string): Promise<Whoami> {
  const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port })
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(Buffer.concat([
    proxyV2({ source, sourcePort: 40000, destination: '::1', destinationPort: 80 }),
    Buffer.from('GET /whoami HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n')
  ]))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer')) }, 5000)
    socket.once('close', () => { clearTimeout(timer); resolve() })
  })
  assert.match(text, /^HTTP\/1\.1 200 /)
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Whoami
}

test('R64 ipKey: an IPv6 address becomes its network for prefixes below 128; IPv4 and prefix 128 are unchanged', () => {
  assert.equal(ipKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64')
  assert.equal(ipKey('2001:db8:1:2::1', 64), '2001:db8:1:2::/64')
  assert.equal(ipKey('2001:db8:1:2:ffff::', 56), '2001:db8:1::/56')
  assert.equal(ipKey('2001:db8:1:2:aaaa::1', 128), '2001:db8:1:2:aaaa::1')
  assert.equal(ipKey('203.0.113.7', 64), '203.0.113.7')
  assert.equal(ipKey('2001:db8::1', 1), '::/1')
})

test('R64 with limits.ipv6Prefix 64 every address of a /64 reaches the same worker, while /64s still spread over the workers', async () => {
  // Sources that full addresses would spread over both slots (checked with the primary's own hash).
  const sameNetwork = Array.from({ length: 12 }, (_, i) => `2001:db8:1:2:${((i * 7919 + 1) % 0xffff).toString(16)}::${i + 1}`)
  assert.equal(new Set(sameNetwork.map((a) => pickSlot(a, [0, 1]))).size, 2, 'without the prefix these would use both workers')
  const seen = await Promise.all(sameNetwork.map(whoamiFrom))
  assert.equal(new Set(seen.map((w) => w.pid)).size, 1, 'one /64, one worker')
  assert.deepEqual(seen.map((w) => w.client), sameNetwork, 'the worker still sees each full client address')
  const networks = Array.from({ length: 12 }, (_, i) => `2001:db8:${i + 10}:${i}::1`)
  const spread = await Promise.all(networks.map(whoamiFrom))
  assert.equal(new Set(spread.map((w) => w.pid)).size, 2, 'different /64s spread over both workers')
})
