import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Fastify from 'fastify'
import { validateOptions } from '../plugin/internal.js'
import { wsProxy, type WsProxyOptions } from '../plugin/index.js'
import { runCli } from './helpers/cluster-process.js'
import { tempDir } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is part of what these strings test */

// R54, R56: what `headers` and `upstreamPath` refuse, with the option
// path, the value and what is allowed, in the plugin and in `ws-cluster check`.
// R38: the file ends with the descriptors it started with (the CLI's pipes too).
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

function withRoute (route: Record<string, unknown>): Record<string, unknown> {
  return { upstreams: { g: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'g', ...route }] }
}

const OWNED = /a header the proxy does not own: Upgrade, Connection, Sec-WebSocket-\* and the hop-by-hop headers Keep-Alive, TE, Trailer, Transfer-Encoding, Proxy-Connection and Content-Length belong to the proxy/
const VARIABLES = /literal text and the variables \$host, \$http_host, \$server_port, \$remote_addr, \$scheme, \$request_uri and \$http_<name>/

/** [route options, path of the (first) problem, start of its message, a fragment of the rest] */
const REFUSED: Array<[Record<string, unknown>, string, string, RegExp]> = [
  [{ headers: { set: { Upgrade: 'h2c' } } }, 'routes[0].headers.set.Upgrade', 'got "Upgrade"', OWNED],
  [{ headers: { set: { connection: 'close' } } }, 'routes[0].headers.set.connection', 'got "connection"', /so a route cannot set them/],
  [{ headers: { append: { 'Sec-WebSocket-Protocol': 'chat' } } }, 'routes[0].headers.append.Sec-WebSocket-Protocol', 'got "Sec-WebSocket-Protocol"', /cannot append them/],
  [{ headers: { remove: ['X-A', 'Sec-WebSocket-Key'] } }, 'routes[0].headers.remove[1]', 'got "Sec-WebSocket-Key"', /cannot remove them/],
  [{ headers: { set: { 'Keep-Alive': 'timeout=5' } } }, 'routes[0].headers.set.Keep-Alive', 'got "Keep-Alive"', OWNED],
  [{ headers: { append: { TE: 'trailers' } } }, 'routes[0].headers.append.TE', 'got "TE"', OWNED],
  [{ headers: { set: { Trailer: 'x' } } }, 'routes[0].headers.set.Trailer', 'got "Trailer"', OWNED],
  [{ headers: { remove: ['Transfer-Encoding'] } }, 'routes[0].headers.remove[0]', 'got "Transfer-Encoding"', OWNED],
  [{ headers: { set: { 'Proxy-Connection': 'keep-alive' } } }, 'routes[0].headers.set.Proxy-Connection', 'got "Proxy-Connection"', OWNED],
  [{ headers: { set: { 'Content-Length': '0' } } }, 'routes[0].headers.set.Content-Length', 'got "Content-Length"', OWNED],
  [{ headers: { append: { Host: 'b.test' } } }, 'routes[0].headers.append.Host', 'got "Host"', /exactly one Host, so it can be set \(or chosen with preserveHost\) but not appended/],
  [{ headers: { remove: ['host'] } }, 'routes[0].headers.remove[0]', 'got "host"', /but not removed/],
  [{ headers: { set: { Host: '' } } }, 'routes[0].headers.set.Host', 'got ""', /a Host value that is not empty/],
  [{ headers: { set: { 'X-A': 'id-$request_id' } } }, 'routes[0].headers.set.X-A', 'got "id-$request_id"', /\$http_<name>.*; "\$request_id" is not a supported variable$/],
  [{ headers: { set: { 'X-A': '$proxy_add_x_forwarded_for' } } }, 'routes[0].headers.set.X-A', 'got "$proxy_add_x_forwarded_for"', VARIABLES],
  [{ headers: { set: { 'X-A': '$http_' } } }, 'routes[0].headers.set.X-A', 'got "$http_"', /"\$http_" is not a supported variable/],
  [{ headers: { set: { 'X-A': 'costs $ 5' } } }, 'routes[0].headers.set.X-A', 'got "costs $ 5"', /a "\$" must start a variable \(\$name or \$\{name\}\)/],
  [{ headers: { set: { 'X-A': '${host' } } }, 'routes[0].headers.set.X-A', 'got "${host"', /a "\$\{" must enclose a variable name and close with "\}"/],
  [{ headers: { set: { 'X-A': 'a\r\nX-Injected: 1' } } }, 'routes[0].headers.set.X-A', 'got "a\\r\\nX-Injected: 1"', /cannot hold "\\r" \(control characters and line breaks are not allowed\)/],
  [{ headers: { set: { 'X-A': 42 } } }, 'routes[0].headers.set.X-A', 'got 42', /a string: literal text and the variables/],
  [{ headers: { set: { 'Bad Name': 'x' } } }, 'routes[0].headers.set.Bad Name', 'got "Bad Name"', /a header name \(letters, digits and/],
  [{ headers: { set: { 'X-A': '1', 'x-a': '2' } } }, 'routes[0].headers.set.x-a', 'got "x-a"', /each header once \(header names ignore case; "X-A" is already in routes\[0\]\.headers\.set\)/],
  [{ headers: { set: { 'X-A': '1' }, remove: ['x-a'] } }, 'routes[0].headers.set.X-A', 'got "X-A"', /a header that is not also in routes\[0\]\.headers\.remove/],
  [{ headers: { sets: { 'X-A': '1' } } }, 'routes[0].headers.sets', 'unknown key', /did you mean "set"\? known keys: set, append, remove/],
  [{ headers: [] }, 'routes[0].headers', 'got []', /an object \{ set\?, append\?, remove\? \}/],
  [{ headers: { remove: 'X-A' } }, 'routes[0].headers.remove', 'got "X-A"', /an array of header names/],
  [{ headers: { set: ['X-A'] } }, 'routes[0].headers.set', 'got ["X-A"]', /an object of header name → value/],
  [{ upstreamPath: 'socket' }, 'routes[0].upstreamPath', 'got "socket"', /a path starting with "\/", without "\?" or "#"/],
  [{ upstreamPath: '' }, 'routes[0].upstreamPath', 'got ""', /a path starting with "\/"/],
  [{ upstreamPath: 5 }, 'routes[0].upstreamPath', 'got 5', /a path starting with "\/"/],
  [{ upstreamPath: '/a?b=1' }, 'routes[0].upstreamPath', 'got "/a?b=1"', /the query of the request is kept, so "\?" has no place here/],
  [{ upstreamPath: '/a#top' }, 'routes[0].upstreamPath', 'got "/a#top"', /so "#" has no place here/],
  [{ upstreamPath: '/a b' }, 'routes[0].upstreamPath', 'got "/a b"', /URL-encoded \(no spaces or control characters\)/],
  [{ upstreamPath: '/app/../admin/' }, 'routes[0].upstreamPath', 'got "/app/../admin/"', /without "\." or "\.\." segments/]
]

test('R54 R56 bad headers and upstreamPath values are refused at registration with the option path, the value and what is allowed', async () => {
  for (const [route, path, start, rest] of REFUSED) {
    const { problems } = validateOptions(withRoute(route))
    assert.ok(problems.length > 0, `${path}: accepted`)
    const [first] = problems
    assert.equal(first.path, path, JSON.stringify(problems))
    assert.ok(first.message.startsWith(start), `${path}: ${first.message}`)
    assert.match(first.message, rest, path)
    const app = Fastify()
    app.register(wsProxy, withRoute(route) as unknown as WsProxyOptions)
    await assert.rejects(async () => { await app.ready() }, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WS_CLUSTER_INVALID_OPTION')
      assert.ok(err.message.startsWith(`Invalid option ${path}: ${start}`), err.message)
      return true
    })
    await app.close()
  }
})

test('R54 every problem of a route\'s headers is listed, not only the first', () => {
  const { problems } = validateOptions(withRoute({ headers: { set: { Upgrade: 'x', 'X-A': '$nope' }, remove: ['Connection'] }, upstreamPath: 'rel' }))
  assert.deepEqual(problems.map(p => p.path), ['routes[0].headers.set.Upgrade', 'routes[0].headers.set.X-A', 'routes[0].headers.remove[0]', 'routes[0].upstreamPath'])
})

test('R51 R55 valid headers and upstreamPath are accepted, with names of any case and empty values (sent as no header)', () => {
  const { problems, options } = validateOptions(withRoute({
    headers: { set: { host: '$HOST:${server_port}', 'X-Empty': '', 'X-Id': '$http_x_request_id' }, append: { Via: '1.1 edge' }, remove: ['X-Powered-By', 'x-powered-by'] },
    upstreamPath: '/socket.io/'
  }))
  assert.deepEqual(problems, [])
  const route = options?.routes[0]
  assert.equal(route?.upstreamPath, '/socket.io/')
  assert.deepEqual(route?.headers?.host?.parts, [{ variable: 'host' }, ':', { variable: 'server_port' }])
  assert.deepEqual(route?.headers?.set.map(rule => rule.name), ['X-Empty', 'X-Id'])
  assert.deepEqual([...(route?.headers?.replaced ?? [])], ['x-empty', 'x-id', 'x-powered-by'])
})

test('R54 "ws-cluster check" reports refused headers with the file and the option path, and exits 1', async (t) => {
  const dir = await tempDir(t, {
    'ws-cluster.config.json': withRoute({ headers: { set: { Connection: 'close', 'X-Id': '$request_id' } }, upstreamPath: '/a?b' })
  })
  const file = join(dir, 'ws-cluster.config.json')
  const result = await runCli(['check'], dir)
  assert.equal(result.code, 1, result.stderr)
  const lines = result.stderr.trimEnd().split('\n')
  assert.match(lines[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: routes\\[0\\]\\.headers\\.set\\.Connection: got "Connection"; allowed: a header the proxy does not own`))
  assert.match(lines[1], /: routes\[0\]\.headers\.set\.X-Id: got "\$request_id"; allowed: literal text and the variables .*; "\$request_id" is not a supported variable$/)
  assert.match(lines[2], /: routes\[0\]\.upstreamPath: got "\/a\?b"; allowed: a path starting with "\/"/)
  assert.equal(lines[3], `configuration file ${file} is invalid: 3 problems`)
})
