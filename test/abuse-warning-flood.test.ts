import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import type { WebSocket } from 'ws'
import { WarningThrottle } from '../plugin/warning-throttle.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, httpGet, logCollector, openWs, refusal, startProxy } from './helpers/plugin-harness.js'
import { refusedUrl } from './helpers/stand-in-upstreams.js'

// A client that can make the proxy write a warning can make it write one per
// request: thousands of lines a second, a full disk, and the one line that
// mattered lost among them. Every warning a client can cause at will is
// written once, then at most once per 10 s per kind with a count of the rest.

const FLOOD = 40

function count (logs: Array<Record<string, unknown>>, msg: string): number {
  return logs.filter(line => line.msg === msg).length
}

test('R88 a flood of upgrades and plain requests to a dead upstream, and past the connection limit, writes each warning once', async () => {
  const baseline = openFdCount()
  const dead = await refusedUrl()
  const live = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { dead: { servers: [dead] }, live: { servers: [live.url] } },
    routes: [{ path: '/dead', upstream: 'dead', http: true }, { path: '/live', upstream: 'live' }],
    limits: { maxConnectionsPerIp: 1 }
  })
  let held: WebSocket | null = null
  try {
    for (let i = 0; i < FLOOD; i++) {
      assert.equal((await refusal(`${proxy.wsBase}/dead`, { localAddress: '127.0.0.31' })).status, 502)
      assert.equal((await httpGet(`${proxy.httpBase}/dead`, { localAddress: '127.0.0.31' })).status, 502)
    }
    held = await openWs(`${proxy.wsBase}/live`, { localAddress: '127.0.0.32' })
    for (let i = 0; i < FLOOD; i++) assert.equal((await refusal(`${proxy.wsBase}/live`, { localAddress: '127.0.0.32' })).status, 503)
    assert.equal(count(proxy.logs, 'upstream attempt failed'), 1)
    assert.equal(count(proxy.logs, 'upgrade failed: no upstream answered'), 1)
    assert.equal(count(proxy.logs, 'http passthrough failed'), 1)
    assert.equal(count(proxy.logs, 'upgrade refused: connection limit'), 1)
    // Fastify's own error line for each 5xx sent is throttled the same way: 3 x 40 refusals, a handful of lines.
    const loud = proxy.logs.filter(line => Number(line.level) >= 40)
    assert.ok(loud.length <= 10, `${loud.length} warning and error lines: ${[...new Set(loud.map(line => String(line.msg)))].join(' | ')}`)
    // The figures still count every one of them.
    assert.equal(proxy.app.wsProxy.stats().upstreams.dead.servers[0].failures, 2 * FLOOD)
    assert.equal(proxy.app.wsProxy.stats().connections.refused, FLOOD)
  } finally {
    if (held !== null) await closeWs(held)
    await proxy.close()
    await live.close()
  }
  await assertNoFdLeak(baseline)
})

test('R88 once the interval has passed, the next warning of a kind is written with how many were left out; other kinds are not held back', async () => {
  const { stream, logs } = logCollector()
  const throttle = new WarningThrottle(pino({ level: 'info' }, stream), 200)
  for (let i = 0; i < 5; i++) throttle.warn('flood', { i }, 'flood warning')
  throttle.error('other', {}, 'another kind')
  await new Promise(resolve => setTimeout(resolve, 250))
  throttle.warn('flood', { i: 5 }, 'flood warning')
  await new Promise(resolve => setImmediate(resolve))
  const flood = logs.filter(line => line.msg === 'flood warning')
  assert.deepEqual(flood.map(line => [line.i, line.suppressed]), [[0, undefined], [5, 4]])
  assert.equal(logs.find(line => line.msg === 'another kind')?.level, 50)
})
