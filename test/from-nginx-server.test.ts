import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join, resolve } from 'node:path'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { validateTranslation } from '../cluster/from-nginx/validate-translation.js'
import { FIXTURES } from './helpers/config-fixtures.js'
import { NGINX_FIXTURES, assertEverythingAccountedFor, assertNote, translateInServer } from './helpers/nginx-fixtures.js'

// Servers, listen, TLS, limits and the main context: pure translation, no sockets, so no
// file-descriptor check here. translateInServer puts its text at line 4.

const LOCATION = 'location /ws/ { proxy_pass http://127.0.0.1:9001; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; proxy_read_timeout 1h; }'

test('listen: address, port, ssl with certificate and key, proxy_protocol and set_real_ip_from make listen', () => {
  const cert = resolve(FIXTURES, 'tls/cert.pem')
  const key = resolve(FIXTURES, 'tls/key.pem')
  const t = translateInServer([
    'listen 127.0.0.1:8443 ssl proxy_protocol;',
    `ssl_certificate ${cert};`,
    `ssl_certificate_key ${key};`,
    'ssl_protocols TLSv1.2 TLSv1.3;', // line 7
    'set_real_ip_from 10.0.0.0/8;',
    'set_real_ip_from 192.168.1.5;',
    'real_ip_header proxy_protocol;',
    LOCATION
  ].join('\n'))
  assert.deepEqual(t.config.listen, { port: 8443, host: '127.0.0.1', proxyProtocol: true, tls: { cert, key }, trustedProxies: ['10.0.0.0/8', '192.168.1.5'] })
  assertNote(t, 'not translated', 7, /^ssl_protocols TLSv1\.2 TLSv1\.3 — TLS settings beyond the certificate and key are Node's TLS defaults/)
  assertEverythingAccountedFor(t)
  assert.deepEqual(validateTranslation(t.config, join(NGINX_FIXTURES, 'ws-cluster.config.json')).problems, [])
})

test('listen: certificates from the http level, relative paths, and listen parameters ws-cluster has no use for', () => {
  const t = translateInServer('listen 443 ssl http2 default_server;\n' + LOCATION, 'ssl_certificate certs/site.pem;\nssl_certificate_key certs/site.key;')
  assert.deepEqual(t.config.listen, { port: 443, tls: { cert: 'certs/site.pem', key: 'certs/site.key' } })
  assertNote(t, 'warning', 2, /relative certificate paths: nginx reads them from its configuration folder, ws-cluster from the folder of its config file/)
  assertNote(t, 'not translated', 5, /listen parameter "http2" — ws-cluster talks HTTP\/1\.1 to clients/)
  assertNote(t, 'not translated', 5, /listen parameter "default_server" — ws-cluster has no virtual hosts/)
  // The files do not exist here, and the validation `ws-cluster check` runs says so.
  const { problems } = validateTranslation(t.config, join(NGINX_FIXTURES, 'ws-cluster.config.json'))
  assert.deepEqual(problems.map(p => p.path), ['listen.tls.cert', 'listen.tls.key'])
})

test('listen: "listen 80" with "listen [::]:80" is one dual-stack listener; another port is reported', () => {
  const dual = translateInServer('listen 80;\nlisten [::]:80;\n' + LOCATION)
  assert.deepEqual(dual.config.listen, { port: 80, host: '::' })
  assertNote(dual, 'note', 5, /→ host "::", which accepts IPv4 and IPv6 on one socket/)
  const two = translateInServer('listen 80;\nlisten 443 ssl;\n' + LOCATION)
  assert.deepEqual(two.config.listen, { port: 80 })
  assertNote(two, 'not translated', 5, /^listen 443 ssl — ws-cluster listens on one address and port; the listen on line 4 is used/)
})

test('listen: ssl without a certificate, and set_real_ip_from without the PROXY protocol, are pointed out', () => {
  const noCert = translateInServer('listen 443 ssl;\n' + LOCATION)
  assert.deepEqual(noCert.config.listen, { port: 443 })
  assertNote(noCert, 'warning', 3, /listens with ssl but has no ssl_certificate and ssl_certificate_key; without them ws-cluster serves plain HTTP/)
  const realIp = translateInServer('listen 80;\nset_real_ip_from 10.0.0.0/8;\nreal_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n' + LOCATION)
  assert.deepEqual(realIp.config.listen, { port: 80, trustedProxies: ['10.0.0.0/8'] })
  assertNote(realIp, 'warning', 5, /listen\.trustedProxies only matters with the PROXY protocol/)
  assertNote(realIp, 'not translated', 6, /real_ip_header X-Forwarded-For — ws-cluster takes the client address only from a PROXY protocol header/)
  assertNote(realIp, 'not translated', 7, /real_ip_recursive on — /)
})

test('servers: the first server that proxies is translated; the others are reported with why', () => {
  const t = translateNginx([
    'http {',
    'server { listen 80; server_name example.com; return 301 https://$host$request_uri; }', // line 2
    `server { listen 443; ${LOCATION} }`,
    'server { listen 8443; location /other/ { proxy_pass http://127.0.0.1:9002; } }', // line 4
    '}'
  ].join('\n'))
  assert.deepEqual(t.config.listen, { port: 443 })
  assert.deepEqual(t.config.routes.map(r => r.path), ['/ws/*'])
  assertNote(t, 'not translated', 2, /this server \(listen 80\) proxies nothing \(it has listen, server_name, return\)/)
  assertNote(t, 'not translated', 4, /ws-cluster has one listener per cluster and the server on line 3 was translated; this one \(listen 8443; locations \/other\/\) needs a config of its own/)
  assertEverythingAccountedFor(t)
})

test('main: worker_processes, worker_connections, limit_conn, worker_rlimit_nofile and worker_shutdown_timeout', () => {
  const t = translateNginx([
    'worker_processes 4;',
    'worker_rlimit_nofile 65535;', // line 2
    'worker_shutdown_timeout 10s;',
    'events { worker_connections 4096; use epoll; multi_accept on; }', // line 4
    'http {',
    'limit_conn_zone $binary_remote_addr zone=perip:10m;',
    'limit_conn_zone $server_name zone=perserver:10m;', // line 7
    `server { limit_conn perip 20; limit_conn perserver 1000; limit_conn nowhere 5; ${LOCATION} }`, // line 8
    '}'
  ].join('\n'))
  assert.deepEqual({ workers: t.config.workers, shutdownTimeout: t.config.shutdownTimeout, limits: t.config.limits }, {
    workers: 4, shutdownTimeout: '10s', limits: { maxConnections: 4096, maxConnectionsPerIp: 20 }
  })
  assertNote(t, 'not translated', 2, /raise the open-files limit of the process instead, e\.g\. `ulimit -n 65535` before `ws-cluster start`, or LimitNOFILE=65535 in its systemd unit/)
  assertNote(t, 'note', 4, /worker_connections 4096 → limits\.maxConnections 4096: per worker, as in nginx, but ws-cluster counts WebSocket tunnels/)
  assertNote(t, 'not translated', 4, /^use epoll — how nginx waits for events/)
  assertNote(t, 'not translated', 7, /a zone keyed by \$server_name has no equivalent/)
  assertNote(t, 'note', 8, /limit_conn perip 20 → limits\.maxConnectionsPerIp 20: exact per client address .* \(nginx applied it to this server only\)/)
  assertNote(t, 'not translated', 8, /^limit_conn perserver 1000 — zone perserver \(line 7\) is keyed by \$server_name/)
  assertNote(t, 'not translated', 8, /^limit_conn nowhere 5 — zone nowhere is not defined by a limit_conn_zone in this file/)
  assertEverythingAccountedFor(t)
  assert.equal(translateNginx(`worker_processes auto;\nhttp { server { ${LOCATION} } }`).config.workers, 'auto')
  assertNote(translateNginx(`worker_processes 0;\nhttp { server { ${LOCATION} } }`), 'not translated', 1, /expected "worker_processes auto" or a count from 1 to 1024/)
})

test('main: include is reported as not followed; unknown directives and blocks are reported with their line', () => {
  const t = translateNginx([
    'include /etc/nginx/modules-enabled/*.conf;',
    'stream { server { listen 3306; proxy_pass db; } }',
    'http {',
    'include mime.types;',
    'frobnicate_everything on;', // line 5
    `server { ${LOCATION} }`,
    '}'
  ].join('\n'))
  assertNote(t, 'not translated', 1, /^include \/etc\/nginx\/modules-enabled\/\*\.conf — not followed: from-nginx reads one file/)
  assertNote(t, 'not translated', 2, /^stream \{ \.\.\. \} — ws-cluster proxies HTTP and WebSockets, not raw TCP\/UDP streams/)
  assertNote(t, 'not translated', 4, /^include mime\.types — not followed/)
  assertNote(t, 'not translated', 5, /^frobnicate_everything on — unknown to ws-cluster from-nginx; it has no ws-cluster equivalent/)
  assertEverythingAccountedFor(t)
})

test('main: a conf.d file that starts with upstream and server is read as if inside http', () => {
  const t = translateNginx(`upstream chat { server 127.0.0.1:9001; }\nserver {\nlisten 8080;\n${LOCATION.replace('127.0.0.1:9001', 'chat')}\n}`)
  assert.deepEqual(Object.keys(t.config.upstreams), ['chat'])
  assert.deepEqual(t.config.listen, { port: 8080 })
  assertNote(t, 'note', 1, /"upstream" at the top of the file: read as if inside http \{ \}/)
  const stray = translateNginx('location /ws/ { proxy_pass http://127.0.0.1:9001; }')
  assertNote(stray, 'not translated', 1, /outside a server block; wrap it in "http \{ server \{ \.\.\. \} \}"/)
  assertNote(stray, 'not translated', null, /no server block has a location with proxy_pass/)
})
