import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { WebSocket } from 'ws'
import { clientFrame, requestHead } from './helpers/raw-http.js'
import { RawClient } from './helpers/raw-http.js'
import { closeEvent, relayLogs, withRelay } from './helpers/relay-fixture.js'
import { closedWs, closeWs, collectMessages, openWs, until, type Message } from './helpers/ws-clients.js'

// Relay lines R69-R71: messages cross whole and unchanged, control frames
// end to end, and closes pass on without reserved codes or oversized reasons.

const MiB = 1024 * 1024

test('R69 text stays text and binary binary, fragmented messages arrive whole both ways, a 16 MiB message crosses with the default limit', async () => {
  await withRelay({}, async ({ url, upstreamSockets, upstreamReceived }) => {
    const ws = await openWs(url)
    try {
      const server = upstreamSockets[0]
      const atUpstream = upstreamReceived.get(server) as Message[]
      const atClient = collectMessages(ws)
      ws.send('héllo ✓ text')
      ws.send(Buffer.from([0, 1, 2, 0xfe, 0xff]))
      ws.send('frag-a,', { fin: false })
      ws.send('frag-b,', { fin: false })
      ws.send('frag-c', { fin: true })
      await until(() => atClient.length === 3, 'three echoes')
      const expected: Message[] = [
        { data: Buffer.from('héllo ✓ text'), binary: false },
        { data: Buffer.from([0, 1, 2, 0xfe, 0xff]), binary: true },
        { data: Buffer.from('frag-a,frag-b,frag-c'), binary: false }
      ]
      assert.deepEqual(atUpstream, expected, 'the upstream got one message per message, not per fragment')
      assert.deepEqual(atClient, expected)

      server.send(Buffer.from([1, 2]), { binary: true, fin: false })
      server.send(Buffer.from([3]), { binary: true, fin: true })
      await until(() => atClient.length === 4, 'the fragmented upstream message')
      assert.deepEqual(atClient[3], { data: Buffer.from([1, 2, 3]), binary: true })

      const big = Buffer.alloc(16 * MiB)
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i)
      ws.send(big)
      await until(() => atClient.length === 5, 'the 16 MiB echo', 60_000)
      assert.equal(atUpstream[3].data.length, 16 * MiB)
      assert.ok(atClient[4].data.equals(big), 'the 16 MiB message came back unchanged')
      assert.equal(atClient[4].binary, true)
    } finally {
      await closeWs(ws)
    }
  })
})

test('R70 pings and pongs cross end to end, each answered once, by the far peer and never by the proxy', async () => {
  await withRelay({ backends: [{ name: 'pinged' }, { name: 'mute', wsOptions: { autoPong: false } }] }, async ({ url, upstreamSockets }) => {
    const ws = await openWs(url)
    try {
      const server = upstreamSockets[0]
      const clientPongs: string[] = []
      const upstreamPings: string[] = []
      ws.on('pong', (data: Buffer) => clientPongs.push(String(data)))
      server.on('ping', (data: Buffer) => upstreamPings.push(String(data)))
      for (const payload of ['p0', 'p1', 'p2']) ws.ping(payload)
      const echoes = collectMessages(ws)
      ws.send('sync 1')
      await until(() => echoes.length === 1 && clientPongs.length >= 3, 'the pongs and the first echo')
      assert.deepEqual(upstreamPings, ['p0', 'p1', 'p2'])
      assert.deepEqual(clientPongs, ['p0', 'p1', 'p2'])

      const clientPings: string[] = []
      const upstreamPongs: string[] = []
      ws.on('ping', (data: Buffer) => clientPings.push(String(data)))
      server.on('pong', (data: Buffer) => upstreamPongs.push(String(data)))
      for (const payload of ['u0', 'u1', 'u2']) server.ping(payload)
      server.send('sync 2')
      await until(() => echoes.length === 2, 'the upstream message')
      ws.send('sync 3')
      await until(() => echoes.length === 3 && upstreamPongs.length >= 3, 'the third echo and the pongs')
      assert.deepEqual(clientPings, ['u0', 'u1', 'u2'])
      assert.deepEqual(upstreamPongs, ['u0', 'u1', 'u2'])
    } finally {
      await closeWs(ws)
    }
    // The second backend never answers pings: through the relay, nobody does.
    const second = await openWs(url)
    try {
      const pongs: string[] = []
      second.on('pong', (data: Buffer) => pongs.push(String(data)))
      const echoes = collectMessages(second)
      second.ping('anyone?')
      second.send('after the ping')
      await until(() => echoes.length === 1, 'the echo after the ping')
      assert.deepEqual(pongs, [], 'the proxy did not answer the ping itself')
    } finally {
      await closeWs(second)
    }
  })
})

const CLOSE_CODES = [1000, 1001, 1003, 1008, 1011, 1014, 3000, 4321, 4999]

/** Opens a client and returns it with the upstream's socket for it. */
async function pair (url: string, upstreamSockets: WebSocket[]): Promise<{ ws: WebSocket, server: WebSocket }> {
  const ws = await openWs(url)
  await until(() => upstreamSockets.length > 0, 'the upstream socket')
  return { ws, server: upstreamSockets[upstreamSockets.length - 1] }
}

test('R71 close codes and reasons pass unchanged whichever side closes; none is put on the wire for 1005, 1001 stands for a peer that vanished', async () => {
  await withRelay({}, async ({ url, upstreamSockets, proxy }) => {
    for (const code of CLOSE_CODES) {
      for (const by of ['client', 'upstream'] as const) {
        const { ws, server } = await pair(url, upstreamSockets)
        const atClient = closeEvent(ws)
        const atUpstream = closeEvent(server)
        const reason = `${by} closes with ${code} ✓`
        if (by === 'client') ws.close(code, reason)
        else server.close(code, reason)
        assert.deepEqual([...await atClient, ...await atUpstream], [code, reason, code, reason], `${by} ${code}`)
      }
    }
    // A close without a code reaches the other side without one (1005 is never sent).
    const silent = await pair(url, upstreamSockets)
    const silentAtUpstream = closeEvent(silent.server)
    silent.ws.close()
    assert.equal((await silentAtUpstream)[0], 1005)
    // A client that vanishes (no close frame: 1006 at the proxy) is a 1001 to the upstream, and the other way round.
    const vanished = await pair(url, upstreamSockets)
    const vanishedAtUpstream = closeEvent(vanished.server)
    vanished.ws.terminate()
    assert.equal((await vanishedAtUpstream)[0], 1001)
    const orphan = await pair(url, upstreamSockets)
    const orphanAtClient = closedWs(orphan.ws)
    orphan.server.terminate()
    assert.equal(await orphanAtClient, 1001)
    await until(() => relayLogs(proxy.logs).length === CLOSE_CODES.length * 2 + 3, 'every access-log line')
    assert.deepEqual(relayLogs(proxy.logs).slice(0, 2).map(line => [line.closedBy, line.closeCode]), [['client', 1000], ['upstream', 1000]])
  })
})

test('R71 a 200-byte close reason from a hook is cut to 123 bytes at a character boundary; one a raw client sends is a protocol error (1002) passed on at once', async () => {
  const longReason = 'é'.repeat(100)
  await withRelay({
    relay: { onMessage: ({ data }) => String(data) === 'close me' ? { action: 'close', code: 4001, reason: longReason } : undefined }
  }, async ({ url, upstreamSockets, proxy }) => {
    const { ws, server } = await pair(url, upstreamSockets)
    const atClient = closeEvent(ws)
    const atUpstream = closeEvent(server)
    ws.send('close me')
    const [clientCode, clientReason] = await atClient
    const [upstreamCode, upstreamReason] = await atUpstream
    assert.equal(clientCode, 4001)
    assert.equal(upstreamCode, 4001)
    assert.equal(String(clientReason), 'é'.repeat(61), '122 bytes: the 62nd "é" would not fit whole')
    assert.equal(String(upstreamReason), 'é'.repeat(61))

    // A close frame whose payload exceeds 125 bytes is invalid on the wire: ws closes that client with 1002.
    const raw = await RawClient.open(proxy.port)
    try {
      raw.write(requestHead({ path: '/ws' }))
      assert.equal((await raw.head()).statusCode, 101)
      await until(() => upstreamSockets.length === 2, 'the second upstream socket')
      // Well before the client's closing handshake could time out (finTimeout, 30 s).
      const upstreamClosed = closeEvent(upstreamSockets[1], 5000)
      const payload = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.alloc(200, 'x')])
      raw.write(clientFrame(8, payload))
      assert.equal((await upstreamClosed)[0], 1002)
    } finally {
      await raw.destroy()
    }
  })
})
