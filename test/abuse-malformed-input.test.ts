import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { wsProxyClientErrorHandler } from '../plugin/index.js'
import { startEchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, openWs, startProxy, statusOf } from './helpers/plugin-harness.js'
import { RawClient, requestHead } from './helpers/raw-http.js'

// What arrives on an edge port is not always HTTP, and not always sane HTTP:
// oversized heads, thousands of headers, random bytes, a TLS handshake sent
// to the plain port. Each gets a clear answer and a closed connection, many
// of them at once, and the proxy keeps serving.

// The start of a TLS 1.2/1.3 ClientHello record, as a browser sends to an https:// URL.
const CLIENT_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), randomBytes(200)])

async function answerTo (port: number, bytes: string | Buffer): Promise<string> {
  const client = await RawClient.open(port)
  try {
    client.write(bytes)
    return (await client.untilClosed(5000)).toString('latin1')
  } finally {
    await client.destroy()
  }
}

test('R89 header floods: one huge header or thousands of small ones get 431, as upgrades and as plain requests, many at once', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b', http: true }] },
    { fastify: { clientErrorHandler: wsProxyClientErrorHandler } })
  try {
    const huge = `X-Huge: ${'a'.repeat(20_000)}`
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)
    const floods = [
      requestHead({ path: '/ws', headers: [huge] }),
      requestHead({ path: '/ws', headers: many }),
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${huge}\r\n\r\n`,
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${many.join('\r\n')}\r\n\r\n`
    ]
    const answers = await Promise.all(Array.from({ length: 100 }, async (_, i) => await answerTo(proxy.port, floods[i % floods.length])))
    for (const answer of answers) assert.equal(statusOf(answer), 431)
    assert.equal(backend.upgrades.length + backend.requests.length, 0, 'nothing reached the upstream')
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'still serving'), 'still serving')
    await closeWs(ws)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})

test('R89 random bytes, a TLS ClientHello on the plain port, other protocols and a CONNECT are answered 400 (or closed) at once; the proxy keeps serving', async () => {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }] },
    { fastify: { clientErrorHandler: wsProxyClientErrorHandler } })
  try {
    const junk: Array<string | Buffer> = [
      CLIENT_HELLO,
      randomBytes(512),
      'SSH-2.0-OpenSSH_9.6\r\n',
      'CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n',
      'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \u0000bad\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
    ]
    const answers = await Promise.all(Array.from({ length: 60 }, async (_, i) => await answerTo(proxy.port, junk[i % junk.length])))
    for (const [i, answer] of answers.entries()) {
      const status = statusOf(answer)
      // Node closes a CONNECT nobody listens for without a word; nothing is ever tunnelled, nothing left open.
      const quietClose = answer === '' && i % junk.length === 3
      assert.ok(status === 400 || quietClose, `input ${i % junk.length} got ${JSON.stringify(answer.slice(0, 60))}`)
    }
    assert.equal(statusOf(answers[0]), 400, 'a TLS handshake on the plain port is told it is not HTTP')
    assert.equal(backend.upgrades.length, 0)
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'still serving'), 'still serving')
    await closeWs(ws)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
})
