import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { WebSocket } from 'ws'
import type { WsProxyOptions, WsProxyStats } from '../plugin/index.js'
import { closeEchoBackends, startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { backendFor, closeWs, echo, httpGet, openOn, refusal, startProxy, waitFor, type ProxyUnderTest } from './helpers/plugin-harness.js'

const NAME = 'chat.dns.test'

/** One echo backend per loopback address, all on the same port (A records carry no port), each named by its address. */
async function backendsOn (addresses: string[]): Promise<{ port: number, backends: EchoBackend[] }> {
  for (let attempt = 0; ; attempt++) {
    const first = await startEchoBackend({ name: addresses[0], listen: { host: addresses[0], port: 0 } })
    const backends = [first]
    try {
      for (const host of addresses.slice(1)) backends.push(await startEchoBackend({ name: host, listen: { host, port: first.port } }))
      return { port: first.port, backends }
    } catch (err) {
      // Another process holds that port on one of the addresses: try a new port.
      await closeEchoBackends(backends)
      if (attempt === 5) throw err
    }
  }
}

interface DnsStack {
  dns: TestDnsServer
  port: number
  backends: EchoBackend[]
  proxy: ProxyUnderTest
  stats: () => WsProxyStats['upstreams'][string]
  urls: () => string[]
  close: () => Promise<void>
}

/** A test DNS server, backends on `addresses`, and the plugin with one group whose only server is `http://NAME:PORT`. */
async function dnsStack (
  addresses: string[], records: (port: number) => Parameters<TestDnsServer['set']>[1],
  group: (dns: TestDnsServer, port: number) => WsProxyOptions['upstreams'][string] = (dns, port) => ({
    resolver: [dns.address], resolveInterval: '200ms', servers: [`http://${NAME}:${port}`]
  })
): Promise<DnsStack> {
  const dns = await startDnsServer()
  const { port, backends } = await backendsOn(addresses)
  dns.set(NAME, records(port))
  const proxy = await startProxy({ upstreams: { chat: group(dns, port) }, routes: [{ path: '/ws', upstream: 'chat', http: true }] })
  const stats = (): WsProxyStats['upstreams'][string] => proxy.app.wsProxy.stats().upstreams.chat
  return {
    dns,
    port,
    backends,
    proxy,
    stats,
    urls: () => stats().servers.filter(server => server.draining !== true).map(server => server.url),
    close: async () => {
      await proxy.close()
      await closeEchoBackends(backends)
      await dns.close()
    }
  }
}

/** Which backend each of `count` new WebSockets reached (each closed again). */
async function spread (proxy: ProxyUnderTest, count: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  for (let i = 0; i < count; i++) {
    const backend = await backendFor(`${proxy.wsBase}/ws`)
    seen[backend] = (seen[backend] ?? 0) + 1
  }
  return seen
}

test('R44 a host-name server is resolved at start; an address added to DNS becomes a server and new connections spread over it', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '127.0.0.2', '127.0.0.3'], () => ({ A: ['127.0.0.2', '127.0.0.1'], ttl: 30 }))
  const { dns, port, proxy } = stack
  try {
    // Resolved before the first client: the servers are the addresses, in address order, named after the entry (R50).
    assert.deepEqual(stack.urls(), [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`])
    assert.ok(stack.stats().servers.every(server => server.name === `http://${NAME}:${port}`))
    const [status] = stack.stats().dns ?? []
    assert.equal(status.name, `http://${NAME}:${port}`)
    assert.equal(status.type, 'address')
    assert.deepEqual(status.addresses, [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`])
    assert.equal(status.ttl, 30)
    assert.equal(status.lastError, null)
    assert.ok(typeof status.resolvedAt === 'number' && status.resolvedAt <= Date.now())
    assert.ok(typeof status.nextResolveAt === 'number' && status.nextResolveAt > status.resolvedAt, 'the next resolution is scheduled')

    assert.deepEqual(await spread(proxy, 4), { '127.0.0.1': 2, '127.0.0.2': 2 })

    dns.set(NAME, { A: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], ttl: 30 })
    await waitFor(() => stack.urls().length === 3, 'the third address to become a server')
    assert.deepEqual(await spread(proxy, 6), { '127.0.0.1': 2, '127.0.0.2': 2, '127.0.0.3': 2 })
    // The servers that stayed kept their counters across the change.
    const first = stack.stats().servers.find(server => server.url === `http://127.0.0.1:${port}`)
    assert.equal(first?.total, 4)
    const change = proxy.logs.find(line => line.msg === 'upstream addresses changed' && Array.isArray(line.added) && line.added.length === 1)
    assert.deepEqual(change?.added, [`http://127.0.0.3:${port}`])
    assert.equal(change?.upstream, 'chat')

    // onClose clears the resolution timers: no query reaches DNS after close.
    await proxy.close()
    const queries = dns.queries.length
    await sleep(700)
    assert.equal(dns.queries.length, queries)
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R45 an address removed from DNS gets no new connections while its open tunnel keeps working until it closes', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '127.0.0.2'], () => ({ A: ['127.0.0.1', '127.0.0.2'], ttl: 30 }))
  const { dns, port, proxy, backends } = stack
  const open: WebSocket[] = []
  try {
    const one = await openOn(`${proxy.wsBase}/ws`)
    const two = await openOn(`${proxy.wsBase}/ws`)
    open.push(one.ws, two.ws)
    const onRemoved = one.backend === '127.0.0.2' ? one : two
    assert.equal(onRemoved.backend, '127.0.0.2')

    dns.set(NAME, { A: ['127.0.0.1'], ttl: 30 })
    await waitFor(() => stack.urls().length === 1, 'the removed address to leave the group')
    const draining = stack.stats().servers.find(server => server.draining === true)
    assert.equal(draining?.url, `http://127.0.0.2:${port}`)
    assert.equal(draining?.active, 1)
    const change = proxy.logs.find(line => line.msg === 'upstream addresses changed' && Array.isArray(line.removed) && line.removed.length === 1)
    assert.equal(change?.drainingTunnels, 1)

    // The tunnel is not cut: it carries traffic both ways as before.
    assert.equal(await echo(onRemoved.ws, 'still here'), 'still here')
    const upgradesBefore = backends[1].upgrades.length
    assert.deepEqual(await spread(proxy, 4), { '127.0.0.1': 4 })
    assert.equal(backends[1].upgrades.length, upgradesBefore, 'no new upgrade reached the removed address')
    assert.equal(await echo(onRemoved.ws, 'and still'), 'and still')

    await closeWs(onRemoved.ws)
    await waitFor(() => stack.stats().servers.every(server => server.draining !== true), 'the drained server to leave the stats')
  } finally {
    for (const ws of open) await closeWs(ws)
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R44 a short TTL brings the next resolution forward, but not below 1 s', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '127.0.0.2'], () => ({ A: ['127.0.0.1'], ttl: 0 }),
    (dns, port) => ({ resolver: [dns.address], resolveInterval: '1h', servers: [`http://${NAME}:${port}`] }))
  const { dns } = stack
  try {
    const aQueries = (): number => dns.queries.filter(query => query === `A ${NAME}`).length
    const start = aQueries()
    const [status] = stack.stats().dns ?? []
    const wait = (status.nextResolveAt ?? 0) - (status.resolvedAt ?? 0)
    assert.ok(wait >= 990 && wait <= 1500, `TTL 0 waits the 1 s floor, not the 1 h interval: ${wait} ms`)
    dns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'], ttl: 0 })
    await waitFor(() => stack.urls().length === 2, 'the new address, found at the TTL pace', 3000)
    await sleep(2000)
    const rounds = aQueries() - start
    assert.ok(rounds >= 2 && rounds <= 5, `about one resolution per second: ${rounds} in about 3 s`)
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R46 when the resolver cannot be asked the last good set stays, the log says so once, and stats show the error until it answers again', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '127.0.0.2'], () => ({ A: ['127.0.0.1', '127.0.0.2'], ttl: 30 }))
  const { dns, port, proxy } = stack
  try {
    await dns.down()
    await waitFor(() => stack.stats().dns?.[0].lastError !== null, 'the failed resolution to show in stats')
    const [status] = stack.stats().dns ?? []
    assert.equal(status.lastError?.code, 'ECONNREFUSED')
    assert.deepEqual(status.addresses, [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`])
    assert.deepEqual(stack.urls(), [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`])
    assert.deepEqual(await spread(proxy, 2), { '127.0.0.1': 1, '127.0.0.2': 1 })

    // Several failed rounds (every 200 ms), one warning: the throttle holds the rest.
    const failedAt = status.lastError?.at ?? 0
    await waitFor(() => (stack.stats().dns?.[0].lastError?.at ?? 0) > failedAt, 'another failed round')
    const warnings = proxy.logs.filter(line => line.msg === 'upstream name could not be resolved: keeping the last good addresses')
    assert.equal(warnings.length, 1)
    assert.equal(warnings[0].level, 40)
    assert.equal(warnings[0].upstream, 'chat')
    assert.equal(warnings[0].name, `http://${NAME}:${port}`)

    await dns.up()
    await waitFor(() => stack.stats().dns?.[0].lastError === null, 'the error to clear once DNS answers')
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R46 a name that does not exist leaves the group without servers: 502 with a log line naming it, until it resolves', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1'], () => ({ A: ['127.0.0.1'] }))
  const { dns, port, proxy } = stack
  try {
    dns.remove(NAME)
    await waitFor(() => stack.urls().length === 0, 'the group to lose its servers')
    const { status, body } = await refusal(`${proxy.wsBase}/ws`)
    assert.equal(status, 502)
    assert.match(body, /WS_CLUSTER_NO_LIVE_UPSTREAM/)
    const line = proxy.logs.find(entry => entry.msg === 'upgrade failed: no upstream answered')
    assert.equal(line?.reason, `no server has an address: http://${NAME}:${port} did not resolve (ENOTFOUND)`)
    assert.ok(proxy.logs.some(entry => entry.msg === 'upstream name resolved to no address' && entry.level === 50))
    assert.equal(stack.stats().dns?.[0].lastError?.code, 'ENOTFOUND')

    dns.set(NAME, { A: ['127.0.0.1'] })
    await waitFor(() => stack.urls().length === 1, 'the name to resolve again')
    assert.equal(await backendFor(`${proxy.wsBase}/ws`), '127.0.0.1')
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R44 a failed connection to a DNS address re-resolves its name early (resolveInterval 1 h)', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '127.0.0.2'], () => ({ A: ['127.0.0.1', '127.0.0.2'], ttl: 3600 }),
    (dns, port) => ({ resolver: [dns.address], resolveInterval: '1h', servers: [`http://${NAME}:${port}`] }))
  const { dns, port, proxy, backends } = stack
  try {
    const next = stack.stats().dns?.[0].nextResolveAt ?? 0
    assert.ok(next > Date.now() + 3_000_000, 'the next resolution is an hour away')
    dns.set(NAME, { A: ['127.0.0.1'], ttl: 3600 })
    await backends[1].close()
    // Round-robin reaches 127.0.0.2 within two upgrades; its refusal is retried on 127.0.0.1.
    assert.deepEqual(await spread(proxy, 2), { '127.0.0.1': 2 })
    await waitFor(() => stack.urls().length === 1, 'the early re-resolution to drop the dead address', 5000)
    assert.deepEqual(stack.urls(), [`http://127.0.0.1:${port}`])
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R47 SRV records give each server its port and weight; higher priority values are backups', async () => {
  const baseline = openFdCount()
  const dns = await startDnsServer()
  const list = [
    await startEchoBackend({ name: 'heavy' }), await startEchoBackend({ name: 'light' }), await startEchoBackend({ name: 'spare' })
  ]
  const [heavy, light, spare] = list
  dns.set('_ws._tcp.chat.dns.test', {
    SRV: [
      { priority: 10, weight: 3, port: heavy.port, target: 'heavy.dns.test' },
      { priority: 10, weight: 1, port: light.port, target: 'light.dns.test' },
      { priority: 20, weight: 5, port: spare.port, target: 'spare.dns.test' }
    ]
  })
  for (const name of ['heavy', 'light', 'spare']) dns.set(`${name}.dns.test`, { A: ['127.0.0.1'], ttl: 60 })
  const proxy = await startProxy({
    upstreams: { chat: { resolver: [dns.address], resolveInterval: '200ms', servers: [{ url: 'http://_ws._tcp.chat.dns.test', srv: true }] } },
    routes: [{ path: '/ws', upstream: 'chat', preserveHost: false }]
  })
  try {
    const { servers, dns: names } = proxy.app.wsProxy.stats().upstreams.chat
    const byPort = new Map(servers.map(server => [server.url, server]))
    assert.equal(byPort.get(`http://127.0.0.1:${heavy.port}`)?.weight, 3)
    assert.equal(byPort.get(`http://127.0.0.1:${light.port}`)?.weight, 1)
    assert.equal(byPort.get(`http://127.0.0.1:${spare.port}`)?.backup, true)
    assert.equal(names?.[0].type, 'srv')
    assert.equal(names?.[0].ttl, 60)
    // Smooth weighted round-robin over 3:1; the backup is not used while a primary is up.
    assert.deepEqual(await spread(proxy, 8), { heavy: 6, light: 2 })
    // With preserveHost false the upstream sees the record's target, not an address.
    assert.equal(heavy.upgrades[0].headers.host, `heavy.dns.test:${heavy.port}`)
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
    await dns.close()
  }
  await assertNoFdLeak(baseline)
})

test('R44 A and AAAA records both give servers; an IPv6 address is a server in brackets', async () => {
  const baseline = openFdCount()
  const stack = await dnsStack(['127.0.0.1', '::1'], () => ({ A: ['127.0.0.1'], AAAA: ['::1'], ttl: 20 }))
  const { port, proxy } = stack
  try {
    assert.deepEqual(stack.urls(), [`http://127.0.0.1:${port}`, `http://[::1]:${port}`])
    assert.deepEqual(await spread(proxy, 4), { '127.0.0.1': 2, '::1': 2 })
    // Plain HTTP on the route goes to the addresses too.
    const answers = [await httpGet(`${proxy.httpBase}/ws`), await httpGet(`${proxy.httpBase}/ws`)]
    assert.deepEqual(answers.map(answer => answer.headers['x-backend']).sort(), ['127.0.0.1', '::1'])
  } finally {
    await stack.close()
  }
  await assertNoFdLeak(baseline)
})

test('R44 without a resolver the system resolver (getaddrinfo, /etc/hosts) resolves the name, with no TTL', async () => {
  const baseline = openFdCount()
  const { port, backends } = await backendsOn(['127.0.0.1', '::1'])
  const proxy = await startProxy({
    upstreams: { local: { servers: [`http://localhost:${port}`] }, fixed: { servers: [`http://127.0.0.1:${port}`] } },
    routes: [{ path: '/ws', upstream: 'local' }, { path: '/fixed', upstream: 'fixed' }]
  })
  try {
    // A group of IP addresses is never resolved and its stats are as before.
    assert.equal('dns' in proxy.app.wsProxy.stats().upstreams.fixed, false)
    assert.equal('name' in proxy.app.wsProxy.stats().upstreams.fixed.servers[0], false)
    const { servers, dns: names } = proxy.app.wsProxy.stats().upstreams.local
    const urls = servers.map(server => server.url)
    assert.ok(urls.includes(`http://127.0.0.1:${port}`), `localhost resolves to 127.0.0.1: ${urls.join(', ')}`)
    assert.ok(urls.every(url => url === `http://127.0.0.1:${port}` || url === `http://[::1]:${port}`), urls.join(', '))
    assert.equal(names?.[0].ttl, null, 'getaddrinfo gives no TTL')
    const seen = await spread(proxy, urls.length * 2)
    for (const url of urls) assert.equal(seen[url.includes('[::1]') ? '::1' : '127.0.0.1'], 2)
  } finally {
    await proxy.close()
    await closeEchoBackends(backends)
  }
  await assertNoFdLeak(baseline)
})
