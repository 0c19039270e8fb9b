import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import type { ResolvedHashKey } from '../plugin/options/options-types.js'
import { cookieValue, hashKeyOf, queryParam } from '../plugin/upstream/hash-key.js'
import { clientAddressOf } from '../plugin/client-identity.js'
import { crc32, crc32OfText } from '../plugin/upstream/crc32.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { onceWithin } from './helpers/timing.js'

const keys: Record<string, ResolvedHashKey> = {
  remote: { source: 'remote-addr' },
  session: { source: 'header', name: 'X-Session' },
  missingHeader: { source: 'header', name: 'x-absent' },
  query: { source: 'query', name: 'key' },
  upperQuery: { source: 'query', name: 'ROOM' },
  missingQuery: { source: 'query', name: 'nope' },
  cookie: { source: 'cookie', name: 'sid' },
  secondCookie: { source: 'cookie', name: 'other' },
  missingCookie: { source: 'cookie', name: 'absent' },
  wire: { source: 'header', name: 'x-bytes' }
}

interface Seen {
  keys: Record<string, string>
  wireCrc: number
}

/** Sends `head` verbatim (so repeated headers and raw bytes reach the parser as written) and returns what the server extracted. */
async function exchange (port: number, head: Buffer): Promise<Seen> {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', chunk => chunks.push(chunk))
  await onceWithin(socket, 'connect')
  socket.end(head)
  await onceWithin(socket, 'close')
  const response = Buffer.concat(chunks)
  assert.match(response.toString('latin1'), /^HTTP\/1\.1 200 /)
  return JSON.parse(response.subarray(response.indexOf('\r\n\r\n') + 4).toString('utf8')) as Seen
}

test('hash keys come from the client address, the first header, the raw query parameter and the cookie (R27 keys)', async () => {
  const baseline = openFdCount()
  const server = createServer((req: IncomingMessage, res) => {
    const clientAddress = clientAddressOf(req.socket)
    const seen: Seen = { keys: {}, wireCrc: 0 }
    for (const [label, key] of Object.entries(keys)) seen.keys[label] = hashKeyOf(key, req, clientAddress)
    seen.wireCrc = crc32OfText(seen.keys.wire)
    res.setHeader('connection', 'close')
    res.end(JSON.stringify(seen))
  })
  server.listen(0, '127.0.0.1')
  await onceWithin(server, 'listening')
  const { port } = server.address() as AddressInfo
  try {
    const head = Buffer.concat([
      Buffer.from([
        'GET /ws?a=1&Room=lobby&key=user%3A42&key=second&flag HTTP/1.1',
        'Host: 127.0.0.1',
        'x-session: first-value',
        'X-Session: second-value',
        'Cookie: theme=dark; sid=abc123',
        'Cookie: other=2',
        'X-Bytes: caf'
      ].join('\r\n'), 'latin1'),
      Buffer.from([0xC3, 0xA9]), // UTF-8 'é' as sent on the wire
      Buffer.from('\r\nConnection: close\r\n\r\n', 'latin1')
    ])
    const seen = await exchange(port, head)
    assert.deepEqual(seen.keys, {
      remote: '127.0.0.1',
      session: 'first-value',
      missingHeader: '',
      query: 'user%3A42',
      upperQuery: 'lobby',
      missingQuery: '',
      cookie: 'abc123',
      secondCookie: '2',
      missingCookie: '',
      wire: 'caf\u00c3\u00a9'
    })
    // The key is hashed as the bytes nginx saw, not re-encoded.
    assert.equal(seen.wireCrc, crc32(Buffer.from([0x63, 0x61, 0x66, 0xC3, 0xA9])))

    const bare = await exchange(port, Buffer.from('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'latin1'))
    assert.equal(bare.keys.query, '')
    assert.equal(bare.keys.cookie, '')
    assert.equal(bare.keys.session, '')
  } finally {
    server.close()
    await onceWithin(server, 'close')
  }
  await assertNoFdLeak(baseline)
})

test('query parameters: first match, raw value, case-insensitive name, no value without "="', () => {
  assert.equal(queryParam('/ws?key=a&key=b', 'key'), 'a')
  assert.equal(queryParam('/ws?xkey=1&key=2', 'key'), '2')
  assert.equal(queryParam('/ws?KEY=v%20w', 'key'), 'v%20w')
  assert.equal(queryParam('/ws?key', 'key'), '')
  assert.equal(queryParam('/ws?key=', 'key'), '')
  assert.equal(queryParam('/ws?a=1#key=2', 'key'), '')
  assert.equal(queryParam('/ws', 'key'), '')
})

test('cookies: pairs separated by ";" with optional spaces, first match wins', () => {
  assert.equal(cookieValue('sid=1;sid=2', 'sid'), '1')
  assert.equal(cookieValue('a=1;   sid=x y', 'sid'), 'x y')
  assert.equal(cookieValue('xsid=1; sid=2', 'sid'), '2')
  assert.equal(cookieValue('SID=up', 'sid'), 'up')
  assert.equal(cookieValue('', 'sid'), '')
  assert.equal(cookieValue(undefined, 'sid'), '')
})
