import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { startEchoBackend, startRawBackend, type RawExchange } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, openWs, startProxy, tunnelLogs, upgradeStatus, waitFor } from './helpers/plugin-harness.js'
import { RawClient, requestHead, serverFrame, switchingHead } from './helpers/raw-http.js'

// Upstreams fail in every way a process and a network can: killed while
// streaming, answering garbage, stopping halfway through their 101,
// resetting right after it. Each ends that one client's connection with a
// clear status or a close, a log line, and nothing leaked or crashed.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// A WebSocket upstream in its own process that streams a message every 5 ms to each client.
const STREAMING_UPSTREAM = `
import { WebSocketServer } from 'ws'
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => process.stdout.write(wss.address().port + '\\n'))
wss.on('connection', (ws) => { const t = setInterval(() => ws.send('tick'), 5); ws.on('close', () => clearInterval(t)) })
`

test('R89 an upstream process killed mid-stream closes its clients\' tunnels with a log line; the proxy keeps serving others', async () => {
  const baseline = openFdCount()
  const child = spawn(process.execPath, ['--input-type=module', '-e', STREAMING_UPSTREAM], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(child.stdout, 'data') as [Buffer]
  const port = Number(String(line).trim())
  const other = await startEchoBackend()
  const proxy = await startProxy({
    upstreams: { doomed: { servers: [`http://127.0.0.1:${port}`] }, other: { servers: [other.url] } },
    routes: [{ path: '/doomed', upstream: 'doomed' }, { path: '/other', upstream: 'other' }]
  })
  try {
    const clients = await Promise.all([1, 2, 3].map(async () => await openWs(`${proxy.wsBase}/doomed`)))
    let ticks = 0
    for (const ws of clients) ws.on('message', () => { ticks++ })
    await waitFor(() => ticks > 30, 'messages streaming')
    const closed = clients.map(async ws => await once(ws, 'close'))
    child.kill('SIGKILL')
    const codes = await Promise.race([
      Promise.all(closed),
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('clients not closed 5 s after the upstream died')), 5000))
    ])
    for (const [code] of codes) assert.equal(code, 1006, 'the upstream sent no close frame, so neither does the tunnel')
    await waitFor(() => tunnelLogs(proxy.logs).length === 3, 'one access-log line per tunnel')
    for (const entry of tunnelLogs(proxy.logs)) assert.match(String(entry.closedBy), /^upstream/)
    const ws = await openWs(`${proxy.wsBase}/other`)
    assert.equal(await echo(ws, 'unaffected'), 'unaffected')
    await closeWs(ws)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await proxy.close()
    await other.close()
  }
  await assertNoFdLeak(baseline)
})

/** How each broken upstream answers the upgrade. */
const BROKEN: Record<string, (exchange: RawExchange) => void> = {
  garbage: ({ socket }) => { socket.end('SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n') },
  'bad-header': ({ socket, headers }) => {
    socket.write(switchingHead(headers['sec-websocket-key'] ?? '').replace('\r\n\r\n', '\r\nX-Bad: a\u0000b\r\n\r\n'))
  },
  'truncated-fin': ({ socket }) => { socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs') },
  'truncated-reset': ({ socket }) => { socket.write('HTTP/1.1 101 Switching Protocols\r\nUpg', () => socket.resetAndDestroy()) },
  'truncated-silent': ({ socket }) => { socket.write('HTTP/1.1 101 Switching Protocols\r\n') }
}

test('R89 a garbage, malformed or truncated answer to the upgrade is a 502 (504 when the rest never comes) and a failure of that server', async () => {
  const baseline = openFdCount()
  const backends = await Promise.all(Object.values(BROKEN).map(async answer => await startRawBackend(answer)))
  const names = Object.keys(BROKEN)
  const proxy = await startProxy({
    upstreams: Object.fromEntries(names.map((name, i) => [name, { servers: [backends[i].url] }])),
    routes: names.map(name => ({ path: `/${name}`, upstream: name, handshakeTimeout: '400ms' }))
  })
  try {
    for (const name of names) {
      assert.equal(await upgradeStatus(`${proxy.wsBase}/${name}`), name === 'truncated-silent' ? 504 : 502, name)
      assert.equal(proxy.app.wsProxy.stats().upstreams[name].servers[0].failures, 1, `${name} counted as a failure`)
    }
  } finally {
    await proxy.close()
    for (const backend of backends) await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R89 an upstream that resets right after its 101 (alone, or after a frame) ends the client\'s connection and the tunnel is logged', async () => {
  const baseline = openFdCount()
  const resetting = await startRawBackend(({ socket, headers }) => {
    const frame = headers['x-with-frame'] === 'yes' ? serverFrame(1, Buffer.from('last words')) : Buffer.alloc(0)
    socket.write(Buffer.concat([Buffer.from(switchingHead(headers['sec-websocket-key'] ?? ''), 'latin1'), frame]), () => socket.resetAndDestroy())
  })
  const proxy = await startProxy({ upstreams: { r: { servers: [resetting.url] } }, routes: [{ path: '/ws', upstream: 'r' }] })
  try {
    for (const withFrame of [false, true]) {
      const client = await RawClient.open(proxy.port)
      client.write(requestHead({ path: '/ws', headers: withFrame ? ['X-With-Frame: yes'] : [] }))
      assert.equal((await client.head()).statusCode, 101)
      const bytes = await client.untilClosed(5000)
      if (withFrame) assert.ok(bytes.includes(Buffer.from('last words')), 'what the upstream sent before the reset arrives')
      await client.destroy()
    }
    const ws = new WebSocket(`${proxy.wsBase}/ws`)
    ws.on('error', () => {})
    const [code] = await once(ws, 'close') as [number]
    assert.equal(code, 1006)
    await waitFor(() => tunnelLogs(proxy.logs).length === 3, 'three access-log lines')
    assert.equal(proxy.app.wsProxy.stats().connections.tunnelsOpen, 0)
  } finally {
    await proxy.close()
    await resetting.close()
  }
  await assertNoFdLeak(baseline)
})
