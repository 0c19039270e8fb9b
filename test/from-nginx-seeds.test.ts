import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ClusterConfigInput } from '../cluster/config/config-types.js'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { validateTranslation } from '../cluster/from-nginx/validate-translation.js'
import { NGINX_FIXTURES, assertEverythingAccountedFor, assertNote, nginxFixture, notesOf } from './helpers/nginx-fixtures.js'

// Every nginx block of the seed posts (test/fixtures/nginx/seed-*.conf) translated: pure
// computation, no sockets, so no file-descriptor check here.

interface SeedCase {
  config: ClusterConfigInput
  /** Lines of the directives reported as not translated, in order. */
  notTranslated: number[]
  warnings: Array<[number, RegExp]>
}

const ONE_BACKEND = { servers: ['http://127.0.0.1:9001'] }
const MYWEB = {
  listen: { port: 80 },
  upstreams: { myweb_backend: ONE_BACKEND },
  routes: [{ path: '/*', upstream: 'myweb_backend', connectTimeout: '1m', idleTimeout: '10m', sendTimeout: '10m', http: true }]
}

const SEEDS: Record<string, SeedCase> = {
  'seed-000a-upgrade-timeouts.conf': {
    config: {
      workers: 'auto',
      upstreams: { backend: { ...ONE_BACKEND, keepalive: 64 } },
      // The location's own proxy_read_timeout, and the server's proxy_send_timeout it inherits.
      routes: [{ path: '/*', upstream: 'backend', idleTimeout: '7m', sendTimeout: '7m', http: true }]
    },
    notTranslated: [12, 14, 15, 16, 17, 18],
    warnings: []
  },
  'seed-000b-connection-reuse.conf': {
    config: {
      upstreams: { backend: { ...ONE_BACKEND, keepalive: 64 } },
      routes: [{ path: '/*', upstream: 'backend', connectTimeout: '7d', idleTimeout: '7d', http: true }]
    },
    notTranslated: [],
    warnings: [
      [12, /no "proxy_http_version 1.1": nginx sent HTTP\/1.0/],
      [12, /does not forward Upgrade or Connection "upgrade"/],
      [16, /connectTimeout 7d: nginx's connect gives up after about 75 s/]
    ]
  },
  'seed-001a-hash-consistent.conf': {
    config: {
      upstreams: { 'socket.kevin.com': { balance: 'hash', hashKey: 'remote-addr', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] } },
      // proxy_pass http://socket.kevin.com/ on location / replaces "/" with "/": no upstreamPath.
      routes: [{ path: '/*', upstream: 'socket.kevin.com', headers: { set: { Host: '$host:$server_port' } }, http: true }]
    },
    notTranslated: [],
    warnings: [[17, /location \/ has no proxy_read_timeout: nginx closed WebSockets idle for 60 s/]]
  },
  'seed-001b-heartbeat-timeouts.conf': {
    config: {
      upstreams: { '127.0.0.1:9003': { servers: ['http://127.0.0.1:9003'] } },
      routes: [{ path: '/*', upstream: '127.0.0.1:9003', connectTimeout: '4s', idleTimeout: '1m', sendTimeout: '12s', http: true }]
    },
    notTranslated: [8, 9],
    warnings: [[13, /idleTimeout 1m closes a WebSocket after 1m without a message/]]
  },
  'seed-002-map-upstream-server.conf': {
    config: {
      listen: { port: 20038 },
      upstreams: { wsbackend: { servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'], keepalive: 1000 } },
      routes: [{ path: '/*', upstream: 'wsbackend', idleTimeout: '1h', http: true }]
    },
    notTranslated: [],
    warnings: []
  },
  'seed-003b-server-level-headers.conf': { config: MYWEB, notTranslated: [12], warnings: [] },
  'seed-003c-http-map-include.conf': {
    config: MYWEB,
    notTranslated: [7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 30, 38],
    warnings: []
  },
  'seed-004-location-websocket.conf': {
    config: {
      upstreams: { '127.0.0.1:9001': ONE_BACKEND },
      routes: [
        { path: '/websocket', upstream: '127.0.0.1:9001', http: true },
        { path: '/websocket/*', upstream: '127.0.0.1:9001', http: true }
      ]
    },
    notTranslated: [],
    warnings: [[6, /location \/websocket has no proxy_read_timeout/]]
  }
}

test('seeds: every seed fixture has a test case (a new seed-*.conf must be added here)', () => {
  const files = readdirSync(NGINX_FIXTURES).filter(f => f.startsWith('seed-') && f.endsWith('.conf'))
  assert.deepEqual(files.sort(), [...Object.keys(SEEDS), 'seed-003a-one-line-verbatim.conf'].sort())
})

for (const [file, expected] of Object.entries(SEEDS)) {
  test(`seeds: ${file} translates to the expected config, reports every untranslated line, and validates`, () => {
    const translation = translateNginx(nginxFixture(file))
    assert.deepEqual(translation.config, expected.config)

    const notTranslated = translation.notes.filter(n => n.kind === 'not translated').map(n => n.line)
    assert.deepEqual(notTranslated, expected.notTranslated, notesOf(translation, 'not translated').join('\n'))
    assert.equal(translation.notes.filter(n => n.kind === 'warning').length, expected.warnings.length, notesOf(translation, 'warning').join('\n'))
    for (const [line, pattern] of expected.warnings) assertNote(translation, 'warning', line, pattern)
    assertEverythingAccountedFor(translation)

    const { problems } = validateTranslation(translation.config, join(NGINX_FIXTURES, 'ws-cluster.config.json'))
    assert.deepEqual(problems, [])
  })
}

test('seeds: the upgrade idiom of every seed is recognised as built in, with its line', () => {
  const seed002 = translateNginx(nginxFixture('seed-002-map-upstream-server.conf'))
  assertNote(seed002, 'note', 5, /map \$http_upgrade \$connection_upgrade \{ \.\.\. \} — built in/)
  assertNote(seed002, 'note', 18, /proxy_http_version 1\.1 — built in/)
  assertNote(seed002, 'note', 20, /proxy_redirect off — built in/)
  assertNote(seed002, 'note', 21, /Host \$host — built in: preserveHost/)
  assertNote(seed002, 'note', 22, /X-Real-IP \$remote_addr — built in: forwardedHeaders/)
  assertNote(seed002, 'note', 24, /X-Forwarded-For \$proxy_add_x_forwarded_for — built in: forwardedHeaders/)
  assertNote(seed002, 'note', 25, /Upgrade \$http_upgrade — built in/)
  assertNote(seed002, 'note', 26, /Connection \$connection_upgrade — built in/)
  const seed000b = translateNginx(nginxFixture('seed-000b-connection-reuse.conf'))
  assertNote(seed000b, 'note', 14, /Connection "" — built in: .*without "upgrade" it stops WebSockets/)
  assertNote(seed000b, 'note', 15, /proxy_buffering off — built in: the tunnel never buffers/)
  // Seed 003 sets the upgrade headers on the server; its location inherits them, so no "missing Upgrade" warning.
  const seed003b = translateNginx(nginxFixture('seed-003b-server-level-headers.conf'))
  assert.deepEqual(notesOf(seed003b, 'warning'), [])
  assertNote(seed003b, 'note', 16, /Upgrade \$http_upgrade — built in/)
})

test('seeds: what nginx did by default and ws-cluster does differently is pointed out', () => {
  const seed004 = translateNginx(nginxFixture('seed-004-location-websocket.conf'))
  assertNote(seed004, 'note', 5, /the server has no listen: nginx listened on port 80 .* ws-cluster's default port is 8080/)
  assertNote(seed004, 'note', 6, /location \/websocket → routes "\/websocket" and "\/websocket\/\*"/)
  assertNote(seed004, 'note', 6, /sets no Host, so nginx sent "Host: \$proxy_host"/)
  assertNote(seed004, 'note', 6, /sent neither X-Forwarded-For nor X-Real-IP under nginx; ws-cluster adds them/)
  assertNote(seed004, 'note', 7, /proxy_pass http:\/\/127\.0\.0\.1:9001 → upstream group "127\.0\.0\.1:9001"/)
  const seed001a = translateNginx(nginxFixture('seed-001a-hash-consistent.conf'))
  assertNote(seed001a, 'note', 18, /the URI "\/" of proxy_pass equals the location, so the path goes upstream unchanged/)
  const seed003c = translateNginx(nginxFixture('seed-003c-http-map-include.conf'))
  assertNote(seed003c, 'not translated', 30, /^include \/etc\/nginx\/conf\.d\/\*\.conf — not followed/)
  assertNote(seed003c, 'not translated', 10, /^log_format proxy .* — ws-cluster logs one NDJSON line per proxied session/)
})
