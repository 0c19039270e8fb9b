import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { hashKeyFor } from '../cluster/from-nginx/translate-upstream.js'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { validateTranslation } from '../cluster/from-nginx/validate-translation.js'
import { NGINX_FIXTURES, assertEverythingAccountedFor, assertNote, notesOf } from './helpers/nginx-fixtures.js'

// Upstream blocks: pure translation, no sockets, so no file-descriptor check here.

/** An nginx file with one upstream `chat` (lines 2..) and a location that uses it. */
function withUpstream (lines: string[], proxyPass = 'http://chat'): ReturnType<typeof translateNginx> {
  return translateNginx(['http {', 'upstream chat {', ...lines, '}', `server { location /ws/ { proxy_pass ${proxyPass}; } }`, '}'].join('\n'))
}

function valid (translation: ReturnType<typeof translateNginx>): void {
  assert.deepEqual(validateTranslation(translation.config, join(NGINX_FIXTURES, 'ws-cluster.config.json')).problems, [])
}

test('upstream: server parameters become server options; what has no equivalent is named with its line', () => {
  const t = withUpstream([
    'least_conn;', // line 3
    'server 127.0.0.1:9001 weight=3 max_fails=2 fail_timeout=30s max_conns=100;',
    'server 127.0.0.1:9002 backup;',
    'server 127.0.0.1:9003 down;',
    'server localhost;',
    'server [::1]:9004 resolve;',
    'server unix:/tmp/backend.sock;', // line 9
    'server 127.0.0.1:9005 slow_start=30s;',
    'keepalive 32;',
    'keepalive_timeout 60s;',
    'zone chat 64k;' // line 13
  ])
  assert.deepEqual(t.config.upstreams.chat, {
    balance: 'least-conn',
    servers: [
      { url: 'http://127.0.0.1:9001', weight: 3, maxFails: 2, failTimeout: '30s', maxConns: 100 },
      { url: 'http://127.0.0.1:9002', backup: true },
      { url: 'http://127.0.0.1:9003', down: true },
      'http://localhost',
      'http://[::1]:9004',
      'http://127.0.0.1:9005'
    ],
    keepalive: 32
  })
  assertNote(t, 'not translated', 9, /^server unix:\/tmp\/backend\.sock — a unix socket; ws-cluster reaches servers and accepts clients over TCP only/)
  assertNote(t, 'not translated', 10, /parameter "slow_start=30s" — an NGINX Plus server parameter/)
  assertNote(t, 'not translated', 12, /^keepalive_timeout 60s — ws-cluster's upstream pool only has a size/)
  assertNote(t, 'not translated', 13, /^zone chat 64k — no shared memory zone in ws-cluster/)
  assertNote(t, 'note', 8, /"resolve" is built in/)
  assertNote(t, 'note', 11, /keepalive 32 → "keepalive": 32, idle connections kept for plain HTTP only; upgraded WebSocket connections are never pooled/)
  assertEverythingAccountedFor(t)
  valid(t)
})

test('upstream: ip_hash, least_conn and "random two" become the balance of the same name', () => {
  assert.equal(withUpstream(['ip_hash;', 'server 127.0.0.1:9001;']).config.upstreams.chat.balance, 'ip-hash')
  assert.equal(withUpstream(['random two least_conn;', 'server 127.0.0.1:9001;']).config.upstreams.chat.balance, 'random-two')
  const leastTime = withUpstream(['random two least_time=header;', 'server 127.0.0.1:9001;'])
  assert.equal(leastTime.config.upstreams.chat.balance, 'random-two')
  assertNote(leastTime, 'note', 3, /"least_time=header" is NGINX Plus only/)
  const plain = withUpstream(['random;', 'server 127.0.0.1:9001;'])
  assert.equal(plain.config.upstreams.chat.balance, undefined)
  assertNote(plain, 'not translated', 3, /^random — ws-cluster has no plain random balancing; the group stays round-robin/)
  const twice = withUpstream(['ip_hash;', 'least_conn;', 'server 127.0.0.1:9001;'])
  assert.equal(twice.config.upstreams.chat.balance, 'ip-hash')
  assertNote(twice, 'not translated', 4, /a second balancing method in upstream chat/)
})

test('upstream: hash keys ws-cluster supports, and "consistent" added with a note when nginx hashed without it', () => {
  assert.deepEqual(hashKeyFor('$remote_addr'), { ok: true, hashKey: 'remote-addr' })
  assert.deepEqual(hashKeyFor('$http_x_user_id'), { ok: true, hashKey: 'header:x-user-id' })
  assert.deepEqual(hashKeyFor('$arg_room'), { ok: true, hashKey: 'query:room' })
  assert.deepEqual(hashKeyFor('$cookie_sid'), { ok: true, hashKey: 'cookie:sid' })
  assert.equal(hashKeyFor('$binary_remote_addr').ok, true)

  const consistent = withUpstream(['hash $http_x_user_id consistent;', 'server 127.0.0.1:9001;', 'server 127.0.0.1:9002;'])
  assert.deepEqual(consistent.config.upstreams.chat, { balance: 'hash', hashKey: 'header:x-user-id', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] })
  assert.deepEqual(notesOf(consistent, 'note').filter(n => n.startsWith('3:')), [])
  valid(consistent)

  const plainHash = withUpstream(['hash $remote_addr;', 'server 127.0.0.1:9001;'])
  assert.equal(plainHash.config.upstreams.chat.balance, 'hash')
  assertNote(plainHash, 'note', 3, /balance "hash": ws-cluster's hash is always ketama-consistent \(as "hash \$remote_addr consistent"\)/)
})

test('upstream: an unsupported hash key is reported with its line and the group stays round-robin', () => {
  const t = withUpstream(['hash $request_uri consistent;', 'server 127.0.0.1:9001;'])
  assert.deepEqual(t.config.upstreams.chat, { servers: ['http://127.0.0.1:9001'] })
  assertNote(t, 'not translated', 3, /^hash \$request_uri consistent — ws-cluster hashes on \$remote_addr, \$http_NAME, \$arg_NAME or \$cookie_NAME; "\$request_uri" is none of them; the group falls back to round-robin/)
  const composite = withUpstream(['hash "$host$uri";', 'server 127.0.0.1:9001;'])
  assertNote(composite, 'not translated', 3, /"\$host\$uri" is none of them/)
})

test('upstream: proxy_pass https:// makes the servers https, keeping nginx\'s port 80 default explicit', () => {
  const t = withUpstream(['server 127.0.0.1;', 'server 127.0.0.1:8443;'], 'https://chat')
  assert.deepEqual(t.config.upstreams.chat.servers, ['https://127.0.0.1:80', 'https://127.0.0.1:8443'])
})

test('upstream: groups no translated location uses are left out, with a note', () => {
  const t = translateNginx('http {\nupstream spare { server 127.0.0.1:9009; }\nupstream chat { server 127.0.0.1:9001; }\nserver { location / { proxy_pass http://chat; } }\n}')
  assert.deepEqual(Object.keys(t.config.upstreams), ['chat'])
  assertNote(t, 'note', 2, /upstream spare is not used by any translated location, so it is left out/)
})

test('upstream: proxy_pass to a name no upstream defines is a host name, with a warning; to an address, a group of one', () => {
  const t = translateNginx('http {\nserver {\nlocation /a/ { proxy_pass http://backend; }\nlocation /b/ { proxy_pass http://127.0.0.1:9001/; }\nlocation /c/ { proxy_pass http://127.0.0.1:9001; }\n}\n}')
  assert.deepEqual(t.config.upstreams, { backend: { servers: ['http://backend'] }, '127.0.0.1:9001': { servers: ['http://127.0.0.1:9001'] } })
  assert.deepEqual(t.config.routes.map(r => [r.path, r.upstream, r.upstreamPath]), [
    ['/a/*', 'backend', undefined], ['/b/*', '127.0.0.1:9001', '/'], ['/c/*', '127.0.0.1:9001', undefined]
  ])
  assertNote(t, 'warning', 3, /no upstream named "backend" in this file \(an include that was not followed\?\): treated as the host backend, port 80/)
  assertNote(t, 'note', 4, /→ upstream group "127\.0\.0\.1:9001" with that one server/)
})
