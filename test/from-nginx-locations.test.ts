import { test } from 'node:test'
import assert from 'node:assert/strict'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { assertEverythingAccountedFor, assertNote, translateInServer } from './helpers/nginx-fixtures.js'

// Locations and proxy headers: pure translation, no sockets, so no file-descriptor check here.
// translateInServer puts its text at line 4 of `http {` / (http level) / `server {`.
/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is part of what these strings test */

const UPGRADE = 'proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";'

function routes (body: string): Array<Record<string, unknown>> {
  return translateInServer(body).config.routes.map(r => ({ ...r, http: undefined, upstream: undefined }))
    .map(r => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)))
}

test('locations: "/ws/" is the prefix route "/ws/*"; "/ws" is "/ws" and "/ws/*"; "= /ws" is "/ws" alone', () => {
  assert.deepEqual(routes('location /ws/ { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws/*' }])
  assert.deepEqual(routes('location /ws { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws' }, { path: '/ws/*' }])
  assert.deepEqual(routes('location = /ws { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws' }])
  assert.deepEqual(routes('location =/ws { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws' }])
  assert.deepEqual(routes('location ^~ /ws/ { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws/*' }])
  assert.deepEqual(routes('location / { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/*' }])
  const t = translateInServer('location /ws { proxy_pass http://127.0.0.1:9001; }')
  assertNote(t, 'note', 4, /location \/ws → routes "\/ws" and "\/ws\/\*": nginx's prefix \/ws matches \/ws and everything below it/)
  assertNote(t, 'note', 4, /"http": true, because nginx proxied plain HTTP requests here as well/)
  assert.equal(t.config.routes[0].http, true)
})

test('locations: overlapping locations resolve like nginx\'s longest match, without duplicate routes', () => {
  const body = 'location = /ws { proxy_pass http://127.0.0.1:9001; }\nlocation /ws { proxy_pass http://127.0.0.1:9002; }\nlocation /ws/ { proxy_pass http://127.0.0.1:9003; }'
  assert.deepEqual(translateInServer(body).config.routes.map(r => [r.path, r.upstream]), [['/ws', '127.0.0.1:9001'], ['/ws/*', '127.0.0.1:9003']])
  assertNote(translateInServer(body), 'note', 5, /the locations "= \/ws" and "\/ws\/" already take everything it would route/)
  const twice = translateInServer('location /a/ { proxy_pass http://127.0.0.1:9001; }\nlocation ^~ /a/ { proxy_pass http://127.0.0.1:9002; }')
  assertNote(twice, 'not translated', 5, /location \/a\/: route "\/a\/\*" is already taken by an earlier location/)
})

test('locations: the URI part of proxy_pass becomes upstreamPath, replacing the matched prefix', () => {
  // The example of the issue: /ws/chat?x=1 goes upstream as /chat?x=1.
  assert.deepEqual(routes('location /ws/ { proxy_pass http://127.0.0.1:9001/; }'), [{ path: '/ws/*', upstreamPath: '/' }])
  assert.deepEqual(routes('location /ws/ { proxy_pass http://127.0.0.1:9001/api/; }'), [{ path: '/ws/*', upstreamPath: '/api/' }])
  assert.deepEqual(routes('location = /ws { proxy_pass http://127.0.0.1:9001/socket; }'), [{ path: '/ws', upstreamPath: '/socket' }])
  // nginx replaces "/ws" in "/ws/chat", so below /ws the slash stays: /ws/chat → /socket/chat.
  assert.deepEqual(routes('location /ws { proxy_pass http://127.0.0.1:9001/socket; }'), [{ path: '/ws', upstreamPath: '/socket' }, { path: '/ws/*', upstreamPath: '/socket/' }])
  const slash = translateInServer('location /ws {\nproxy_pass http://127.0.0.1:9001/;\n}')
  assert.deepEqual(slash.config.routes.map(r => [r.path, r.upstreamPath]), [['/ws', '/'], ['/ws/*', '/']])
  assertNote(slash, 'note', 5, /nginx sent "\/ws\/chat" upstream as "\/\/chat" \(a double slash\); ws-cluster sends "\/chat"/)
  // No URI: the path goes upstream unchanged, so no upstreamPath.
  assert.deepEqual(routes('location /ws/ { proxy_pass http://127.0.0.1:9001; }'), [{ path: '/ws/*' }])
  assert.deepEqual(routes('location /ws/ { proxy_pass http://127.0.0.1:9001/ws/; }'), [{ path: '/ws/*' }])
})

test('locations: regex and named locations, and locations that proxy nothing, are reported with their line', () => {
  const t = translateInServer([
    'location ~ ^/ws/(\\d+)$ { proxy_pass http://127.0.0.1:9001; }', // line 4
    'location ~* \\.io$ { proxy_pass http://127.0.0.1:9001; }',
    'location @fallback { proxy_pass http://127.0.0.1:9001; }',
    'location /static/ { root /srv; expires 1d; }',
    'location /var/ { proxy_pass http://$backend; }', // line 8
    'location /sock/ { proxy_pass http://unix:/tmp/app.sock:/; }',
    'location /x:y/ { proxy_pass http://127.0.0.1:9001; }',
    'location /ws/ { proxy_pass http://127.0.0.1:9001; }'
  ].join('\n'))
  assert.deepEqual(t.config.routes.map(r => r.path), ['/ws/*'])
  assertNote(t, 'not translated', 4, /a regular-expression location; ws-cluster routes are a literal path or a "\/prefix\/\*"/)
  assertNote(t, 'not translated', 5, /a regular-expression location/)
  assertNote(t, 'not translated', 6, /a named location, reached only through try_files or error_page/)
  assertNote(t, 'not translated', 7, /^location \/static\/ \{ \.\.\. \} — no proxy_pass here \(it has root, expires\): ws-cluster only proxies/)
  assertNote(t, 'not translated', 8, /proxy_pass http:\/\/\$backend \(line 8\) is an address built from variables/)
  assertNote(t, 'not translated', 9, /a unix socket/)
  assertNote(t, 'not translated', 10, /ws-cluster route paths cannot contain ":"/)
  assertEverythingAccountedFor(t)
})

test('locations: nested locations inherit the enclosing location\'s proxy settings', () => {
  const t = translateInServer(`location /api/ {\nproxy_read_timeout 5m;\n${UPGRADE}\nlocation /api/ws/ { proxy_pass http://127.0.0.1:9001; }\n}`)
  assert.deepEqual(t.config.routes.map(r => [r.path, r.idleTimeout]), [['/api/ws/*', '5m']])
  assert.deepEqual(t.notes.filter(n => n.kind === 'warning'), [])
})

test('headers: custom headers become headers.set (nginx variables kept), an empty value headers.remove', () => {
  const t = translateInServer(['location /ws/ {', 'proxy_pass http://127.0.0.1:9001;', UPGRADE,
    'proxy_set_header X-Tenant acme;', 'proxy_set_header X-User $http_x_user;', 'proxy_set_header X-Port "${server_port}";',
    'proxy_set_header Accept-Encoding "";', 'proxy_set_header X-Forwarded-For $remote_addr;', '}'].join('\n'))
  assert.deepEqual(t.config.routes[0].headers, {
    set: { 'X-Tenant': 'acme', 'X-User': '$http_x_user', 'X-Port': '$server_port', 'X-Forwarded-For': '$remote_addr' },
    remove: ['Accept-Encoding']
  })
  assertEverythingAccountedFor(t)
})

test('headers: Host $proxy_host is preserveHost false; Host $host and the forwarded headers are the defaults', () => {
  const off = translateInServer(`location /ws/ { proxy_pass http://127.0.0.1:9001; ${UPGRADE} proxy_set_header Host $proxy_host; }`)
  assert.equal(off.config.routes[0].preserveHost, false)
  assert.equal(off.config.routes[0].headers, undefined)
  const defaults = translateInServer(`location /ws/ {\nproxy_pass http://127.0.0.1:9001; ${UPGRADE}\nproxy_set_header Host $host;\nproxy_set_header X-Real-IP $remote_addr;\n` +
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\nproxy_set_header X-Forwarded-Proto $scheme;\n}')
  assert.deepEqual(Object.keys(defaults.config.routes[0]).sort(), ['http', 'path', 'upstream'])
  assertNote(defaults, 'note', 7, /X-Real-IP \$remote_addr — built in: forwardedHeaders \(default true\)/)
  assertNote(defaults, 'note', 9, /X-Forwarded-Proto \$scheme — built in: forwardedHeaders/)
})

test('headers: a value with a variable route headers cannot use is reported and left out', () => {
  const t = translateInServer(`location /ws/ {\nproxy_pass http://127.0.0.1:9001; ${UPGRADE}\nproxy_set_header X-Request-Id $request_id;\n}`)
  assert.equal(t.config.routes[0].headers, undefined)
  assertNote(t, 'not translated', 6, /^proxy_set_header X-Request-Id \$request_id — uses \$request_id; route headers can use literals and \$host, \$http_host/)
})

test('headers: the upgrade and hop-by-hop headers ws-cluster owns are reported, not written; the client\'s own Sec-WebSocket-* is built in', () => {
  const t = translateInServer(`location /ws/ {\nproxy_pass http://127.0.0.1:9001; ${UPGRADE}\nproxy_set_header Sec-WebSocket-Extensions $http_sec_websocket_extensions;\n` +
    'proxy_set_header Sec-WebSocket-Protocol chat;\nproxy_set_header Content-Length "";\nproxy_set_header Keep-Alive 60;\nproxy_set_header X-A $HOST;\n}')
  assert.deepEqual(t.config.routes[0].headers, { set: { 'X-A': '$HOST' } })
  assertNote(t, 'note', 6, /Sec-WebSocket-Extensions \$http_sec_webso.* — built in: ws-cluster forwards the client's Sec-WebSocket-Extensions/)
  for (const [line, name] of [[7, 'Sec-WebSocket-Protocol'], [8, 'Content-Length'], [9, 'Keep-Alive']] as const) {
    assertNote(t, 'not translated', line, new RegExp(`Upgrade, Connection, Sec-WebSocket-\\* and the hop-by-hop headers .* belong to the proxy \\(ws-cluster writes them itself\\), so a route cannot set or remove ${name}$`))
  }
  assertEverythingAccountedFor(t)
})

test('headers: a location with proxy_set_header of its own loses the server\'s, as in nginx, and both traps are named', () => {
  const t = translateInServer(`${UPGRADE}\nlocation /ws/ {\nproxy_pass http://127.0.0.1:9001;\nproxy_set_header X-A b;\n}`)
  assert.deepEqual(t.config.routes[0].headers, { set: { 'X-A': 'b' } })
  assertNote(t, 'warning', 5, /has proxy_set_header lines of its own, so nginx did not send the outer ones here: Upgrade \(line 4\), Connection \(line 4\)/)
  assertNote(t, 'warning', 5, /does not forward Upgrade or Connection "upgrade" \(proxy_set_header\), so nginx never passed WebSocket upgrades here/)
})

test('traps: HTTP/1.0 upstream and a missing or short proxy_read_timeout are warnings on their lines', () => {
  const t = translateInServer('location /ws/ {\nproxy_pass http://127.0.0.1:9001;\nproxy_http_version 1.0;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection $connection_upgrade;\nproxy_read_timeout 30;\n}')
  assertNote(t, 'warning', 6, /proxy_http_version 1\.0: nginx cannot upgrade an HTTP\/1\.0 request, so WebSockets never passed here/)
  assertNote(t, 'warning', 9, /idleTimeout 30s closes a WebSocket after 30s without a message in either direction/)
  assertNote(t, 'warning', 8, /\$connection_upgrade is not defined by a "map \$http_upgrade \$connection_upgrade" in this file/)
  assert.equal(t.config.routes[0].idleTimeout, '30s')
  const mapped = translateNginx('http {\nmap $http_upgrade $conn { default upgrade; "" close; }\nserver { location /ws/ { proxy_pass http://127.0.0.1:9001; proxy_http_version 1.1; proxy_read_timeout 1h; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $conn; } }\n}')
  assert.deepEqual(mapped.notes.filter(n => n.kind === 'warning'), [])
})
