import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setClientAddress } from '../plugin/index.js'
import { closeEchoBackends, startEchoBackend, startNamedEchoBackends } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import {
  backendFor, closeWs, httpGet, openOn, rawConnect, refusal, startProxy, statusOf, upgradeHead, waitFor
} from './helpers/plugin-harness.js'

function headerValues (rawHeaders: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1])
  return out
}

test('R30 X-Forwarded-For appends the client to every incoming value, X-Real-IP/-Proto/-Host are set, Forwarded passes unchanged', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] })
  try {
    // Two X-Forwarded-For lines and spoofed identity headers, as a raw request so duplicates survive.
    const client = await rawConnect(proxy.port, '127.0.6.7')
    const received: Buffer[] = []
    client.on('data', (chunk: Buffer) => received.push(chunk))
    client.write(upgradeHead('/ws', [
      'X-Forwarded-For: 198.51.100.1, 198.51.100.2',
      'X-Forwarded-For: 198.51.100.3',
      'X-Real-IP: 198.51.100.99',
      'X-Forwarded-Proto: wss',
      'X-Forwarded-Host: spoofed.test',
      'Forwarded: for=198.51.100.1;proto=https, for="[2001:db8::1]"'
    ], 'chat.example.test:8443'))
    await waitFor(() => statusOf(Buffer.concat(received).toString('latin1')) === 101, '101 on the raw client')
    const raw = backend.upgrades[0].rawHeaders
    assert.deepEqual(headerValues(raw, 'x-forwarded-for'), ['198.51.100.1, 198.51.100.2, 198.51.100.3, 127.0.6.7'])
    assert.deepEqual(headerValues(raw, 'x-real-ip'), ['127.0.6.7'])
    assert.deepEqual(headerValues(raw, 'x-forwarded-proto'), ['http'])
    assert.deepEqual(headerValues(raw, 'x-forwarded-host'), ['chat.example.test:8443'])
    assert.deepEqual(headerValues(raw, 'forwarded'), ['for=198.51.100.1;proto=https, for="[2001:db8::1]"'])
    client.destroy()

    // Without incoming values the client address alone.
    const plain = await openOn(`${proxy.wsBase}/ws`)
    assert.equal(backend.upgrades[1].headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(backend.upgrades[1].headers['x-forwarded-host'], `127.0.0.1:${proxy.port}`)
    await closeWs(plain.ws)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R30 plain HTTP passthrough (http: true) carries the same identity headers', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/io/*', upstream: 'b', http: true }] })
  try {
    const res = await httpGet(`${proxy.httpBase}/io/poll`, { headers: { 'x-forwarded-for': '198.51.100.5', host: 'poll.example.test' }, localAddress: '127.0.8.9' })
    assert.equal(res.status, 200)
    const seen = (JSON.parse(res.body) as { headers: Record<string, string> }).headers
    assert.equal(seen['x-forwarded-for'], '198.51.100.5, 127.0.8.9')
    assert.equal(seen['x-real-ip'], '127.0.8.9')
    assert.equal(seen['x-forwarded-proto'], 'http')
    assert.equal(seen['x-forwarded-host'], 'poll.example.test')
    assert.equal(seen.host, 'poll.example.test')
    // No while-running fd check here: plain requests leave idle keep-alive upstream connections pooled (the `keepalive` pool), by design.
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R31 Host is the client\'s by default and the upstream\'s host:port with preserveHost: false', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { b: { servers: [backend.url] } },
    routes: [{ path: '/keep', upstream: 'b' }, { path: '/swap', upstream: 'b', preserveHost: false, http: true }]
  })
  try {
    const kept = await openOn(`${proxy.wsBase}/keep`, { headers: { host: 'app.example.test' } })
    assert.equal(backend.upgrades[0].headers.host, 'app.example.test')
    const swapped = await openOn(`${proxy.wsBase}/swap`, { headers: { host: 'app.example.test' } })
    assert.equal(backend.upgrades[1].headers.host, `127.0.0.1:${backend.port}`)
    assert.equal(backend.upgrades[1].headers['x-forwarded-host'], 'app.example.test', 'the client Host still travels in X-Forwarded-Host')
    const res = await httpGet(`${proxy.httpBase}/swap`, { headers: { host: 'app.example.test' } })
    assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers.host, `127.0.0.1:${backend.port}`)
    await closeWs(kept.ws)
    await closeWs(swapped.ws)
    // No while-running fd check here: plain requests leave idle keep-alive upstream connections pooled (the `keepalive` pool), by design.
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

/** R26's hash for equal weights, written from its line in docs/behaviour.md. */
function ipHashIndex (address: string, servers: number): number {
  let h = 89
  for (const octet of address.split('.').slice(0, 3).map(Number)) h = (h * 113 + octet) % 6271
  return h % servers
}

test('R30 R33 setClientAddress overrides the peer address for forwarded headers, ip-hash and per-IP limits', async () => {
  const baseline = openFdCount()
  const backends = await startNamedEchoBackends('A', 'B', 'C')
  const recorded = '203.0.113.7'
  const proxy = await startProxy({
    upstreams: { g: { balance: 'ip-hash', servers: backends.map(backend => backend.url) } },
    routes: [{ path: '/ws', upstream: 'g' }],
    limits: { maxConnectionsPerIp: 1 }
  }, {
    // What the cluster runtime does after reading a PROXY header.
    after: (app) => { app.server.prependListener('connection', (socket: Socket) => setClientAddress(socket, `::ffff:${recorded}`)) }
  })
  try {
    const want = 'ABC'[ipHashIndex(recorded, 3)]
    const held = await openOn(`${proxy.wsBase}/ws`)
    assert.equal(held.backend, want, 'ip-hash used the recorded address')
    const seen = backends.flatMap(backend => backend.upgrades)[0].headers
    assert.equal(seen['x-forwarded-for'], recorded, 'recorded and normalized (no ::ffff: prefix)')
    assert.equal(seen['x-real-ip'], recorded)
    // A different peer address, the same recorded client: the per-IP slot is taken.
    const second = await refusal(`${proxy.wsBase}/ws`, { localAddress: '127.0.5.5' })
    assert.equal(second.status, 503)
    await closeWs(held.ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'slot released')
    assert.equal(await backendFor(`${proxy.wsBase}/ws`, { localAddress: '127.0.5.5' }), want)
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})

test('R30 a wss client gets X-Forwarded-Proto https; the TLS connection counts once in stats', async () => {
  const baseline = openFdCount()
  const dir = mkdtempSync(join(tmpdir(), 'ws-cluster-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'], { stdio: 'ignore' })
  const cert = readFileSync(join(dir, 'cert.pem'))
  const key = readFileSync(join(dir, 'key.pem'))
  rmSync(dir, { recursive: true, force: true })
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] }, {
    fastify: { https: { cert, key } }
  })
  try {
    const { ws } = await openOn(`wss://127.0.0.1:${proxy.port}/ws`, { ca: cert })
    assert.equal(backend.upgrades[0].headers['x-forwarded-proto'], 'https')
    const { connections } = proxy.app.wsProxy.stats()
    assert.equal(connections.accepted, 1)
    assert.equal(connections.active, 1)
    await closeWs(ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.active === 0, 'connection counted closed once')
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(proxy.app.wsProxy.stats().connections.active, 0, 'never below zero')
    // R38 while the proxy runs: every socket of the test's connections is closed before teardown.
    await proxy.assertIdleFds()
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
