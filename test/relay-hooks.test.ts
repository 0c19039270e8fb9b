import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { wsProxy, type MessageHook } from '../plugin/index.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy } from './helpers/plugin-harness.js'
import { closeEvent, relayLogs, withRelay } from './helpers/relay-fixture.js'
import { closeWs, collectMessages, echoOnce, openWs, until, type Message } from './helpers/ws-clients.js'

// Relay lines R74-R75: the message hook passes, rewrites, drops or closes;
// async hooks keep each direction's order; a failing hook costs only its own
// connection; a hook given as a module runs in a thread pool, so the event
// loop keeps serving every other connection while it works.

const inlineHook: MessageHook = ({ direction, data }) => {
  const text = data.toString()
  if (direction === 'fromClient' && text.startsWith('rewrite:')) return { action: 'replace', data: text.slice(8).toUpperCase() }
  if (direction === 'fromClient' && text === 'binary please') return { action: 'replace', data: Buffer.from([7, 7, 7]) }
  if (text === 'drop') return { action: 'drop' }
  if (text === 'close') return { action: 'close', code: 4000, reason: 'the hook said so' }
  if (text === 'throw') throw new Error('hook exploded')
  return undefined
}

test('R74 a hook rewrites (text or binary), drops, closes with its code, and one that throws closes only its connection with 1011 and a log line', async () => {
  await withRelay({ relay: { onMessage: inlineHook } }, async ({ url, proxy, upstreamSockets, upstreamReceived }) => {
    const ws = await openWs(url)
    const atClient = collectMessages(ws)
    try {
      ws.send('rewrite:abc')
      ws.send('drop')
      ws.send('binary please')
      ws.send('plain')
      await until(() => atClient.length === 3, 'three echoes')
      const atUpstream = upstreamReceived.get(upstreamSockets[0]) as Message[]
      assert.deepEqual(atUpstream, [
        { data: Buffer.from('ABC'), binary: false },
        { data: Buffer.from([7, 7, 7]), binary: true },
        { data: Buffer.from('plain'), binary: false }
      ])
      assert.deepEqual(atClient.map(m => [String(m.data), m.binary]), [['ABC', false], ['\x07\x07\x07', true], ['plain', false]])
      // The upstream's messages go through the hook too.
      upstreamSockets[0].send('drop')
      upstreamSockets[0].send('after the drop')
      await until(() => atClient.length === 4, 'the upstream message after the dropped one')
      assert.equal(String(atClient[3].data), 'after the drop')
    } finally {
      await closeWs(ws)
    }

    const closer = await openWs(url)
    const closedByHook = Promise.all([closeEvent(closer), until(() => upstreamSockets.length === 2, 'the second upstream socket').then(async () => await closeEvent(upstreamSockets[1]))])
    closer.send('close')
    assert.deepEqual(await closedByHook, [[4000, 'the hook said so'], [4000, 'the hook said so']])

    const thrower = await openWs(url)
    const thrown = closeEvent(thrower)
    thrower.send('throw')
    assert.deepEqual(await thrown, [1011, 'message hook failed'])
    await until(() => proxy.logs.some(line => line.msg === 'relay message hook failed: closing the connection with 1011'), 'the hook error log line')
    const line = proxy.logs.find(l => l.msg === 'relay message hook failed: closing the connection with 1011') as { err: { message: string }, direction: string }
    assert.equal(line.err.message, 'hook exploded')
    assert.equal(line.direction, 'fromClient')
    assert.equal(proxy.app.wsProxy.stats().routes['/ws'].hookErrors, 1)

    // The process carries on: a new connection is served.
    const after = await openWs(url)
    assert.equal(await echoOnce(after, 'still here'), 'still here')
    await closeWs(after)
    await until(() => relayLogs(proxy.logs).length === 4, 'four access-log lines')
    assert.deepEqual(relayLogs(proxy.logs).map(l => l.closedBy).slice(1, 3), ['hook', 'hook-error'])
  })
})

test('R74 an async hook keeps the order of each direction even when later messages finish first; a rejection closes with 1011', async () => {
  const onMessage: MessageHook = async ({ direction, data }) => {
    const text = data.toString()
    if (text === 'reject') throw new Error('async hook failed')
    const n = Number(text.split(' ')[1] ?? 0)
    // Message n waits less than message n-1: without ordering they would arrive reversed.
    await new Promise(resolve => setTimeout(resolve, (10 - n) * 5))
    return direction === 'fromClient' ? { action: 'replace', data: `${text}!` } : undefined
  }
  await withRelay({ relay: { onMessage } }, async ({ url }) => {
    const ws = await openWs(url)
    const atClient = collectMessages(ws)
    for (let n = 0; n < 10; n++) ws.send(`message ${n}`)
    await until(() => atClient.length === 10, 'ten echoes')
    assert.deepEqual(atClient.map(m => String(m.data)), Array.from({ length: 10 }, (_, n) => `message ${n}!`))
    const closed = closeEvent(ws)
    ws.send('reject')
    assert.deepEqual(await closed, [1011, 'message hook failed'])
  })
})

/** A hook module that spins the CPU of its thread for the asked time, leaving a marker file when it starts. */
const POOL_HOOK = `import { writeFileSync } from 'node:fs'
export function onMessage ({ direction, data }) {
  const text = data.toString()
  if (direction === 'fromClient' && text.startsWith('spin ')) {
    const [, ms, marker] = text.split(' ')
    writeFileSync(marker, 'started')
    const until = Date.now() + Number(ms)
    while (Date.now() < until) {}
    return { action: 'replace', data: 'spun' }
  }
  if (text === 'boom') throw new Error('pool hook exploded')
  if (direction === 'fromClient') return { action: 'replace', data: text + ' (pool)' }
}
`

test('R75 a CPU-heavy hook given as a module runs in the pool: connections on the same process, relayed or tunnelled, are served while it runs', async () => {
  const baseline = openFdCount()
  const dir = mkdtempSync(join(tmpdir(), 'wsc-relay-hook-'))
  const hookFile = join(dir, 'spin-hook.mjs')
  writeFileSync(hookFile, POOL_HOOK)
  const backend = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { echo: { servers: [backend.url] } },
    routes: [
      { path: '/relay', upstream: 'echo', mode: 'relay', relay: { onMessage: hookFile, hookThreads: 2 } },
      { path: '/tunnel', upstream: 'echo' }
    ],
    shutdownTimeout: 500
  })
  try {
    const heavy = await openWs(`${proxy.wsBase}/relay`)
    const relayed = await openWs(`${proxy.wsBase}/relay`)
    const tunnelled = await openWs(`${proxy.wsBase}/tunnel`)
    const marker = join(dir, 'spinning')
    const heavyReplies = collectMessages(heavy)
    heavy.send(`spin 3000 ${marker}`)
    await until(() => existsSync(marker), 'the hook to start spinning')
    for (let n = 0; n < 20; n++) {
      assert.equal(await echoOnce(relayed, `r${n}`), `r${n} (pool)`)
      assert.equal(await echoOnce(tunnelled, `t${n}`), `t${n}`)
    }
    assert.equal(heavyReplies.length, 0, 'forty round trips were served while the heavy hook was still running')
    await until(() => heavyReplies.length === 1, 'the heavy hook to finish', 20_000)
    assert.equal(String(heavyReplies[0].data), 'spun')

    const failing = closeEvent(relayed)
    relayed.send('boom')
    assert.deepEqual(await failing, [1011, 'message hook failed'])
    await until(() => proxy.logs.some(line => (line.err as { message?: string } | undefined)?.message === 'pool hook exploded'), 'the pool error log line')
    assert.equal(await echoOnce(heavy, 'still served'), 'still served (pool)')
    await closeWs(heavy)
    await closeWs(tunnelled)
  } finally {
    await proxy.close()
    await backend.close()
    rmSync(dir, { recursive: true, force: true })
  }
  await assertNoFdLeak(baseline)
})

test('R75 a hook module that fails to load, or exports no hook, fails registration naming the option; a missing file is a validation error', async () => {
  const baseline = openFdCount()
  const dir = mkdtempSync(join(tmpdir(), 'wsc-relay-hook-'))
  const broken = join(dir, 'broken.mjs')
  const empty = join(dir, 'empty.mjs')
  writeFileSync(broken, 'throw new Error("cannot start")\n')
  writeFileSync(empty, 'export const notAHook = 1\n')
  try {
    for (const [file, pattern] of [[broken, /cannot start/], [empty, /exports no onMessage function and no default function \(exports: notAHook\)/]] as const) {
      const app = Fastify({ logger: false })
      app.register(wsProxy, {
        upstreams: { a: { servers: ['http://127.0.0.1:9'] } },
        routes: [{ path: '/ws', upstream: 'a', mode: 'relay', relay: { onMessage: file } }]
      })
      await assert.rejects(async () => { await app.ready() }, (err: Error & { code?: string }) => {
        assert.equal(err.code, 'WS_CLUSTER_INVALID_OPTION')
        assert.match(err.message, /^Invalid option routes\[0\]\.relay\.onMessage: cannot load the hook module/)
        assert.match(err.message, pattern)
        return true
      })
      await app.close()
    }
    const app = Fastify({ logger: false })
    app.register(wsProxy, { upstreams: { a: { servers: ['http://127.0.0.1:9'] } }, routes: [{ path: '/ws', upstream: 'a', mode: 'relay', relay: { onMessage: join(dir, 'missing.mjs') } }] })
    await assert.rejects(async () => { await app.ready() }, /routes\[0\]\.relay\.onMessage: cannot read ".*missing\.mjs": no such file \(ENOENT\)/)
    await app.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  await assertNoFdLeak(baseline)
})
