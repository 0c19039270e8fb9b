import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { setClientAddress, type RouteOptions } from '../plugin/index.js'
import { startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { FIXTURES } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, rawConnect, startProxy, statusOf, upgradeHead, waitFor, type ProxyUnderTest } from './helpers/plugin-harness.js'

/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is part of what these strings test */

// The `headers` route option (R51-R53) on upgrades and on plain-HTTP
// passthrough, against a real `ws` backend that records the requests it got.
// R38: each test ends with the file descriptors it started with.

function headerValues (rawHeaders: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1])
  return out
}

/** Sends a raw upgrade (so duplicate and odd headers survive) and returns the headers the backend received with it. */
async function upgradeThrough (proxy: ProxyUnderTest, backend: EchoBackend, path: string, headers: string[], host: string, localAddress?: string): Promise<string[]> {
  const seen = backend.upgrades.length
  const client = await rawConnect(proxy.port, localAddress)
  const received: Buffer[] = []
  client.on('data', (chunk: Buffer) => received.push(chunk))
  try {
    client.write(upgradeHead(path, headers, host))
    await waitFor(() => statusOf(Buffer.concat(received).toString('latin1')) === 101, `101 for ${path}`)
    return backend.upgrades[seen].rawHeaders
  } finally {
    client.destroy()
  }
}

/** Sends a raw plain GET through passthrough and returns the headers the backend received with it. */
async function getThrough (proxy: ProxyUnderTest, backend: EchoBackend, path: string, headers: string[], host: string): Promise<string[]> {
  const seen = backend.requests.length
  const client = await rawConnect(proxy.port)
  const received: Buffer[] = []
  client.on('data', (chunk: Buffer) => received.push(chunk))
  try {
    client.write([`GET ${path} HTTP/1.1`, `Host: ${host}`, ...headers, 'Connection: close', '', ''].join('\r\n'))
    await waitFor(() => statusOf(Buffer.concat(received).toString('latin1')) === 200, `200 for ${path}`)
    return backend.requests[seen].rawHeaders
  } finally {
    client.destroy()
  }
}

async function withProxy (routes: RouteOptions[], body: (proxy: ProxyUnderTest, backend: EchoBackend) => Promise<void>, extra: Parameters<typeof startProxy>[1] = {}): Promise<void> {
  const baseline = openFdCount()
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: routes.map(route => ({ ...route, upstream: 'b' })) }, extra)
  try {
    await body(proxy, backend)
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
}

const OPERATIONS: RouteOptions = {
  path: '/ws',
  upstream: 'b',
  http: true,
  headers: {
    set: { Host: '$host:$server_port', 'X-Forwarded-For': '$remote_addr', 'X-Tenant': 'tenant-$http_x_tenant_id', 'X-Empty': '$http_x_not_sent' },
    append: { 'X-Trace': 'proxy', Via: '1.1 ws-cluster' },
    remove: ['x-debug', 'X-Forwarded-Host', 'X-REAL-IP']
  }
}
const CLIENT_HEADERS = [
  'X-Forwarded-For: 198.51.100.1', 'X-Tenant: spoofed', 'X-Tenant-Id: 42', 'X-Trace: client', 'X-Debug: 1', 'X-Empty: from-client',
  'X-Real-IP: 198.51.100.9', 'X-Kept: yes'
]

function assertOperations (raw: string[], port: number, what: string): void {
  const expected: Record<string, string[]> = {
    host: [`chat.example.test:${port}`],
    'x-forwarded-for': ['127.0.0.1'],
    'x-tenant': ['tenant-42'],
    'x-empty': [],
    'x-trace': ['client', 'proxy'],
    via: ['1.1 ws-cluster'],
    'x-debug': [],
    'x-forwarded-host': [],
    'x-real-ip': [],
    'x-forwarded-proto': ['http'],
    'x-tenant-id': ['42'],
    'x-kept': ['yes']
  }
  for (const [name, values] of Object.entries(expected)) assert.deepEqual(headerValues(raw, name), values, `${what}: ${name}`)
}

test('R51 R52 upgrade: set replaces the client\'s copies and the built-in Host and X-Forwarded-For, append adds after, remove drops both, an empty value sends nothing', async () => {
  await withProxy([OPERATIONS], async (proxy, backend) => {
    const raw = await upgradeThrough(proxy, backend, '/ws', CLIENT_HEADERS, 'Chat.Example.TEST:8443')
    assertOperations(raw, proxy.port, 'upgrade')
    // The handshake the proxy owns is untouched.
    assert.deepEqual(headerValues(raw, 'upgrade'), ['websocket'])
    assert.deepEqual(headerValues(raw, 'connection'), ['upgrade'])
    assert.deepEqual(headerValues(raw, 'sec-websocket-key'), ['dGhlIHNhbXBsZSBub25jZQ=='])
  })
})

test('R51 R52 plain-HTTP passthrough gets the same headers as the upgrade', async () => {
  await withProxy([OPERATIONS], async (proxy, backend) => {
    assertOperations(await getThrough(proxy, backend, '/ws', CLIENT_HEADERS, 'Chat.Example.TEST:8443'), proxy.port, 'passthrough')
  })
})

const VARIABLES: RouteOptions = {
  path: '/vars',
  upstream: 'b',
  http: true,
  headers: {
    set: {
      'X-V-Host': '$host',
      'X-V-Http-Host': '$http_host',
      'X-V-Port': '$server_port',
      'X-V-Addr': '$remote_addr',
      'X-V-Scheme': '$scheme',
      'X-V-Uri': '$request_uri',
      'X-V-Header': '$http_x_custom_thing',
      'X-V-Braces': '${host}_${SERVER_PORT}!',
      'X-V-Literal': 'just text',
      'X-V-Absent': '$http_x_never_sent'
    }
  }
}

function variablesSeen (raw: string[]): Record<string, string[]> {
  const names = ['host', 'http-host', 'port', 'addr', 'scheme', 'uri', 'header', 'braces', 'literal', 'absent']
  return Object.fromEntries(names.map(name => [name, headerValues(raw, `x-v-${name}`)]))
}

test('R53 every variable on an upgrade and on passthrough: $host, $http_host, $server_port, $remote_addr, $scheme, $request_uri, $http_<name>, ${name}, literals', async () => {
  await withProxy([VARIABLES], async (proxy, backend) => {
    const expected = (port: number, addr: string): Record<string, string[]> => ({
      host: ['chat.example.test'],
      'http-host': ['Chat.Example.Test:8443'],
      port: [String(port)],
      addr: [addr],
      scheme: ['http'],
      uri: ['/vars?room=1&x=%20y'],
      header: ['abc'],
      braces: [`chat.example.test_${port}!`],
      literal: ['just text'],
      absent: []
    })
    const upgrade = await upgradeThrough(proxy, backend, '/vars?room=1&x=%20y', ['X-Custom-Thing: abc'], 'Chat.Example.Test:8443', '127.0.3.4')
    assert.deepEqual(variablesSeen(upgrade), expected(proxy.port, '127.0.3.4'))
    const plain = await getThrough(proxy, backend, '/vars?room=1&x=%20y', ['X-Custom-Thing: abc'], 'Chat.Example.Test:8443')
    assert.deepEqual(variablesSeen(plain), expected(proxy.port, '127.0.0.1'))
    // $host drops the port but keeps an IPv6 literal's brackets.
    assert.deepEqual(headerValues(await upgradeThrough(proxy, backend, '/vars', [], '[::1]:9000'), 'x-v-host'), ['[::1]'])
    assert.deepEqual(headerValues(await upgradeThrough(proxy, backend, '/vars', [], 'plain.test'), 'x-v-host'), ['plain.test'])
  })
})

test('R53 on TLS $scheme is https and $server_port the TLS port; $remote_addr is the recorded client address (PROXY protocol source)', async () => {
  const tls = { key: readFileSync(join(FIXTURES, 'tls/key.pem')), cert: readFileSync(join(FIXTURES, 'tls/cert.pem')) }
  await withProxy([VARIABLES], async (proxy, backend) => {
    const ws = new WebSocket(`wss://127.0.0.1:${proxy.port}/vars`, { rejectUnauthorized: false })
    try {
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      const seen = variablesSeen(backend.upgrades[0].rawHeaders)
      assert.deepEqual([seen.scheme, seen.port, seen.addr], [['https'], [String(proxy.port)], ['203.0.113.7']])
    } finally {
      await closeWs(ws)
    }
  }, {
    fastify: { https: tls },
    // What the cluster runtime does with a trusted PROXY header, here on the TLS socket the request arrives on.
    after: (app) => { app.server.prependListener('secureConnection', (socket: Socket) => setClientAddress(socket, '203.0.113.7')) }
  })
})

test('R51 with preserveHost: false a set Host still wins and one that comes out empty falls back; with forwardedHeaders: false the route adds only what it sets', async () => {
  await withProxy([
    { path: '/a', upstream: 'b', preserveHost: false, headers: { set: { Host: '$http_x_host' } } },
    { path: '/b', upstream: 'b', forwardedHeaders: false, headers: { set: { 'X-Real-IP': '$remote_addr' }, remove: ['X-Forwarded-For'] } },
    { path: '/c', upstream: 'b', headers: { append: { 'X-Forwarded-For': '10.9.8.7' } } }
  ], async (proxy, backend) => {
    const upstreamHost = `127.0.0.1:${backend.port}`
    assert.deepEqual(headerValues(await upgradeThrough(proxy, backend, '/a', ['X-Host: from-header.test'], 'client.test'), 'host'), ['from-header.test'])
    assert.deepEqual(headerValues(await upgradeThrough(proxy, backend, '/a', [], 'client.test'), 'host'), [upstreamHost])

    const spoofed = ['X-Forwarded-For: 198.51.100.1', 'X-Forwarded-Proto: wss', 'X-Real-IP: 198.51.100.2']
    const b = await upgradeThrough(proxy, backend, '/b', spoofed, 'client.test')
    assert.deepEqual(headerValues(b, 'x-real-ip'), ['127.0.0.1'])
    assert.deepEqual(headerValues(b, 'x-forwarded-for'), [])
    assert.deepEqual(headerValues(b, 'x-forwarded-proto'), ['wss'], 'forwardedHeaders: false passes the client\'s own')
    assert.deepEqual(headerValues(b, 'x-forwarded-host'), [])

    const c = await upgradeThrough(proxy, backend, '/c', ['X-Forwarded-For: 198.51.100.1'], 'client.test')
    assert.deepEqual(headerValues(c, 'x-forwarded-for'), ['198.51.100.1, 127.0.0.1', '10.9.8.7'])
    assert.deepEqual(headerValues(c, 'x-real-ip'), ['127.0.0.1'])
  })
})
