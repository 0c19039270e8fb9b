import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket } from 'ws'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { freePorts } from '../demo/free-ports.js'
import type { ServerMessage } from '../demo/chat-protocol.js'
import { onceWithin } from './helpers/timing.js'

const backendScript = fileURLToPath(new URL('../demo/chat-backend.js', import.meta.url))
const TOKEN = 'test-peer-token'
const hasRedis = spawnSync('redis-server', ['--version']).status === 0

interface Backend { name: string, url: string, child: ChildProcess, exited: Promise<unknown>, output: () => string }

async function startBackends (count: number, env: NodeJS.ProcessEnv = {}): Promise<Backend[]> {
  const ports = await freePorts(count, '127.0.0.1')
  const urls = ports.map((p) => `http://127.0.0.1:${p}`)
  const backends = ports.map((port, i) => {
    const name = `backend-${i + 1}`
    const child = spawn(process.execPath, [backendScript, '--name', name, '--port', String(port), '--peers', urls.join(',')], {
      env: { ...process.env, DEMO_PEER_TOKEN: TOKEN, REDIS_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let text = ''
    child.stdout.on('data', (c: Buffer) => { text += c.toString() })
    child.stderr.on('data', (c: Buffer) => { text += c.toString() })
    return { name, url: urls[i] as string, child, exited: once(child, 'exit'), output: () => text }
  })
  // Ready when each says it listens and, on the mesh, has its links to every other backend.
  const links = env.REDIS_URL !== undefined && env.REDIS_URL !== '' ? 0 : count - 1
  for (const b of backends) {
    while (!b.output().includes('listening on') || b.output().split('peer link up').length - 1 < links) {
      if (b.child.exitCode !== null) throw new Error(`${b.name} exited: ${b.output()}`)
      await sleep(25)
    }
  }
  return backends
}

async function stopAll (backends: Backend[]): Promise<void> {
  for (const b of backends) b.child.kill('SIGTERM')
  await Promise.all(backends.map(async (b) => await b.exited))
}

/** A page stand-in: a real ws client that joins and records every message. */
async function page (baseUrl: string, name: string, headers: Record<string, string> = {}): Promise<{ socket: WebSocket, got: ServerMessage[] }> {
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/ws`, { headers })
  const got: ServerMessage[] = []
  socket.on('message', (data) => got.push(JSON.parse(data.toString()) as ServerMessage))
  await onceWithin(socket, 'open')
  socket.send(JSON.stringify({ type: 'join', name }))
  return { socket, got }
}

async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** Polls until redis-server answers PING on `port`. */
async function waitForRedis (port: number): Promise<void> {
  await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 'redis-server to answer')
}

const joined = (got: ServerMessage[], name: string): boolean => got.some((m) => m.type === 'system' && m.text.startsWith(`${name} joined`))
const chats = (got: ServerMessage[], text: string): number => got.filter((m) => m.type === 'chat' && m.text === text).length

test('R30 demo backend welcome reports its name and the forwarded client identity it received', async () => {
  const baseline = openFdCount()
  const backends = await startBackends(1)
  try {
    const p = await page(backends[0]!.url, 'Ada', { 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.7', 'x-ws-cluster-worker': '3:4242' })
    await until(() => p.got.length > 0, 'welcome')
    const welcome = p.got[0]
    assert.ok(welcome?.type === 'welcome')
    assert.equal(welcome.view.backend.name, 'backend-1')
    assert.equal(welcome.view.backend.pid, backends[0]!.child.pid)
    assert.deepEqual(welcome.view.proxyWorker, { id: '3', pid: 4242 })
    assert.equal(welcome.view.client.xForwardedFor, '203.0.113.7')
    assert.equal(welcome.view.client.xRealIp, '203.0.113.7')
    assert.equal(welcome.view.transport, 'peers')
    p.socket.send(JSON.stringify({ type: 'ping', t: 12.5 }))
    p.socket.send(JSON.stringify({ type: 'shout' }))
    await until(() => p.got.some((m) => m.type === 'pong') && p.got.some((m) => m.type === 'error'), 'pong and error')
    assert.ok(p.got.some((m) => m.type === 'pong' && m.t === 12.5))
    assert.ok(p.got.some((m) => m.type === 'error' && /unknown message type "shout"/.test(m.message)))
    p.socket.close()
    await onceWithin(p.socket, 'close')
  } finally {
    await stopAll(backends)
  }
  await assertNoFdLeak(baseline)
})

test('demo peer mesh: a message sent on one backend reaches the pages of every backend exactly once, and later joiners get it as history', async () => {
  const baseline = openFdCount()
  const backends = await startBackends(3)
  const pages: Array<{ socket: WebSocket, got: ServerMessage[] }> = []
  try {
    for (const [i, b] of backends.entries()) pages.push(await page(b.url, `user-${i + 1}`))
    await until(() => pages.every((p) => joined(p.got, 'user-3')), 'the last join notice on every page')
    pages[0]!.socket.send(JSON.stringify({ type: 'chat', text: 'one message, three backends' }))
    await until(() => pages.every((p) => chats(p.got, 'one message, three backends') >= 1), 'the message on every page')
    // A second copy would arrive right behind the first; give it the chance to show up.
    await sleep(300)
    for (const p of pages) assert.equal(chats(p.got, 'one message, three backends'), 1)

    const late = await page(backends[2]!.url, 'late')
    await until(() => late.got.length > 0, 'welcome')
    const welcome = late.got[0]
    assert.ok(welcome?.type === 'welcome')
    assert.ok(welcome.history.some((e) => e.type === 'chat' && e.text === 'one message, three backends' && e.backend === 'backend-1'))
    pages.push(late)
  } finally {
    for (const p of pages) p.socket.terminate()
    await stopAll(backends)
  }
  await assertNoFdLeak(baseline)
})

test('demo peer mesh: a connection without the run\'s peer token is refused and cannot inject messages', async () => {
  const baseline = openFdCount()
  const backends = await startBackends(1)
  try {
    const intruder = new WebSocket(`${backends[0]!.url.replace('http', 'ws')}/peer`, { headers: { 'x-demo-peer-token': 'wrong' } })
    const [code] = await onceWithin(intruder, 'close') as [number]
    assert.equal(code, 1008)
  } finally {
    await stopAll(backends)
  }
  await assertNoFdLeak(baseline)
})

test('demo backend refuses to start when REDIS_URL points at no Redis, naming the URL', async () => {
  const baseline = openFdCount()
  const [port] = await freePorts(1, '127.0.0.1')
  const child = spawn(process.execPath, [backendScript, '--name', 'r'], {
    env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let text = ''
  child.stderr.on('data', (c: Buffer) => { text += c.toString() })
  const [code] = await onceWithin(child, 'exit') as [number]
  assert.equal(code, 1)
  assert.match(text, new RegExp(`cannot use Redis at REDIS_URL=redis://127.0.0.1:${port}: .*ECONNREFUSED`))
  await assertNoFdLeak(baseline)
})

test('demo Redis pub/sub: with REDIS_URL set, backends share messages through a real Redis server',
  { skip: hasRedis ? false : 'redis-server is not installed: apt-get install -y redis-server' }, async () => {
    const baseline = openFdCount()
    const [redisPort] = await freePorts(1, '127.0.0.1')
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    const redisExited = once(redis, 'exit')
    let backends: Backend[] = []
    const pages: Array<{ socket: WebSocket, got: ServerMessage[] }> = []
    try {
      const url = `redis://127.0.0.1:${redisPort}`
      await waitForRedis(redisPort as number)
      backends = await startBackends(2, { REDIS_URL: url })
      for (const [i, b] of backends.entries()) pages.push(await page(b.url, `user-${i + 1}`))
      await until(() => pages.every((p) => joined(p.got, 'user-2')), 'the last join notice on both pages')
      const welcome = pages[0]!.got[0]
      assert.ok(welcome?.type === 'welcome' && welcome.view.transport === 'redis')
      pages[1]!.socket.send(JSON.stringify({ type: 'chat', text: 'over redis' }))
      await until(() => pages.every((p) => chats(p.got, 'over redis') === 1), 'the message on both pages')
    } finally {
      for (const p of pages) p.socket.terminate()
      await stopAll(backends)
      redis.kill('SIGTERM')
      await redisExited
    }
    await assertNoFdLeak(baseline)
  })
