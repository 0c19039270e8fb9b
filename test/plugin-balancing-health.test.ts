import { test } from 'node:test'
import assert from 'node:assert/strict'
import { closeEchoBackends, startNamedEchoBackends } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { backendFor, closeWs, openOn, refusal, startProxy, waitFor } from './helpers/plugin-harness.js'
import { refusedUrl } from './helpers/stand-in-upstreams.js'

// R22, R23, R25: how server failures, backups and maxConns decide which servers a
// group may pick, seen through real refused ports and real backends.

/** One server's live figures from the plugin's stats. */
function serverStats (proxy: { app: { wsProxy: { stats: () => { upstreams: Record<string, { servers: Array<{ url: string, failures: number, state: string, total: number }> }> } } } }, group: string, url: string): { failures: number, state: string, total: number } {
  const found = proxy.app.wsProxy.stats().upstreams[group].servers.find(server => server.url === url)
  assert.ok(found !== undefined, `stats for ${url}`)
  return found
}

test('R22 a refused server counts a failure and is skipped for failTimeout after maxFails; a one-server group keeps trying', async () => {
  const baseline = openFdCount()
  const dead = await refusedUrl()
  const list = await startNamedEchoBackends('A', 'B')
  const [a, b] = list
  const proxy = await startProxy({
    upstreams: {
      g: { servers: [{ url: dead, maxFails: 1, failTimeout: '1500ms' }, a.url, b.url] },
      single: { servers: [{ url: dead, maxFails: 1, failTimeout: '10s' }] }
    },
    routes: [{ path: '/ws', upstream: 'g' }, { path: '/single', upstream: 'single' }]
  })
  try {
    const seen: string[] = []
    for (let i = 0; i < 6; i++) seen.push(await backendFor(`${proxy.wsBase}/ws`))
    assert.ok(seen.every(name => name === 'A' || name === 'B'), `every upgrade served: ${seen.join(' ')}`)
    assert.equal(serverStats(proxy, 'g', dead).failures, 1, 'tried once, then skipped within failTimeout')
    assert.equal(serverStats(proxy, 'g', dead).state, 'failed')
    await new Promise(resolve => setTimeout(resolve, 1600))
    // failTimeout is over: the dead server is eligible again and, within a few
    // picks (its effective weight recovers as in nginx), tried and failed again.
    for (let i = 0; i < 6; i++) await backendFor(`${proxy.wsBase}/ws`)
    assert.equal(serverStats(proxy, 'g', dead).failures, 2)

    for (let i = 0; i < 3; i++) {
      const { status, body } = await refusal(`${proxy.wsBase}/single`)
      assert.equal(status, 502)
      assert.match(body, /WS_CLUSTER_UPSTREAM_CONNECT_FAILED/)
    }
    assert.equal(serverStats(proxy, 'single', dead).failures, 3, 'a lone server is tried every time')
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})

test('R23 backup servers serve only when every primary is unavailable; down servers never', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A', 'B', 'C')
  const [a, b, c] = list
  const proxy = await startProxy({
    upstreams: { g: { servers: [a.url, { url: b.url, backup: true }, { url: c.url, down: true }] } },
    routes: [{ path: '/ws', upstream: 'g' }]
  })
  try {
    for (let i = 0; i < 4; i++) assert.equal(await backendFor(`${proxy.wsBase}/ws`), 'A')
    await a.close()
    for (let i = 0; i < 3; i++) assert.equal(await backendFor(`${proxy.wsBase}/ws`), 'B')
    assert.equal(c.upgrades.length, 0)
    assert.equal(b.upgrades.length, 3)
  } finally {
    await proxy.close()
    await closeEchoBackends([b, c])
  }
  await assertNoFdLeak(baseline)
})

test('R25 maxConns reached on every server gives 502; a group whose servers all failed gives 502 "no live upstreams"', async () => {
  const baseline = openFdCount()
  const list = await startNamedEchoBackends('A')
  const [a] = list
  const deadOne = await refusedUrl()
  const deadTwo = await refusedUrl()
  const proxy = await startProxy({
    upstreams: {
      capped: { servers: [{ url: a.url, maxConns: 1 }] },
      dead: { servers: [{ url: deadOne, failTimeout: '10s' }, { url: deadTwo, failTimeout: '10s' }] }
    },
    routes: [{ path: '/capped', upstream: 'capped' }, { path: '/dead', upstream: 'dead' }]
  })
  try {
    const held = await openOn(`${proxy.wsBase}/capped`)
    const full = await refusal(`${proxy.wsBase}/capped`)
    assert.equal(full.status, 502)
    assert.match(full.body, /WS_CLUSTER_UPSTREAMS_AT_MAX_CONNS/)
    assert.equal(a.upgrades.length, 1, 'the capped server was not contacted')
    await closeWs(held.ws)
    await waitFor(() => proxy.app.wsProxy.stats().connections.tunnelsOpen === 0, 'slot released')
    assert.equal(await backendFor(`${proxy.wsBase}/capped`), 'A', 'a freed slot is usable again')

    const first = await refusal(`${proxy.wsBase}/dead`)
    assert.equal(first.status, 502)
    assert.match(first.body, /WS_CLUSTER_UPSTREAM_CONNECT_FAILED/, 'the last connect error is reported')
    const second = await refusal(`${proxy.wsBase}/dead`)
    assert.equal(second.status, 502)
    assert.match(second.body, /No live upstreams/)
  } finally {
    await proxy.close()
    await closeEchoBackends(list)
  }
  await assertNoFdLeak(baseline)
})
