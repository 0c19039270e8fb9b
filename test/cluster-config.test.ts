import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../cluster/config/config-load.js'
import { validateConfig, type ConfigProblem } from '../cluster/config/config-validate.js'
import { FIXTURES, MINIMAL, tempDir } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { createTestCa } from './helpers/test-ca.js'

// R38: validation opens files only; the file-wide check proves none stay open.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

function problemsOf (input: unknown): ConfigProblem[] {
  return validateConfig(input, join(FIXTURES, 'virtual.json')).problems
}

function findProblem (problems: ConfigProblem[], path: string): ConfigProblem {
  const problem = problems.find(p => p.path === path)
  assert.ok(problem !== undefined, `no problem at ${path}; got ${JSON.stringify(problems)}`)
  return problem
}

test('config: a good JSON file gets defaults for everything it leaves out, paths made absolute', async () => {
  const file = join(FIXTURES, 'good.json')
  const config = await loadConfig({ file, cwd: '/', env: {}, flags: {} })
  assert.equal(config.file, file)
  assert.deepEqual(config.listen, { port: 8080, host: '127.0.0.1', tls: null, proxyProtocol: false, trustedProxies: [], maxPendingProxyHeaders: 1024 })
  assert.equal(config.workers, 2)
  assert.deepEqual(config.admin, { port: 9090, host: '127.0.0.1' })
  assert.equal(config.shutdownTimeout, 10_000)
  assert.deepEqual(config.log, { level: 'warn', pretty: false })
  assert.equal(config.app, join(FIXTURES, 'app-plugin.mjs'))
  assert.deepEqual(config.limits, { maxConnections: 10000, maxConnectionsPerIp: 100 })
  assert.deepEqual(Object.keys(config.upstreams), ['chat', 'feed'])
  assert.equal(config.routes[1].path, '/feed/*')

  const minimal = validateConfig(MINIMAL, null).config
  assert.ok(minimal !== null)
  assert.deepEqual(minimal.listen, { port: 8080, host: '0.0.0.0', tls: null, proxyProtocol: false, trustedProxies: [], maxPendingProxyHeaders: 1024 })
  assert.equal(minimal.workers, availableParallelism())
  assert.deepEqual(minimal.admin, { port: 9090, host: '127.0.0.1' })
  assert.equal(minimal.shutdownTimeout, 30_000)
  assert.equal(minimal.drainTimeout, 4 * 3_600_000, 'R101: replaced workers keep their tunnels for hours by default')
  assert.equal(minimal.closeSpread, 10_000, 'R98: the plugin\'s default')
  assert.deepEqual(minimal.log, { level: 'info', pretty: false })
  assert.equal(minimal.app, null)
  assert.equal(minimal.file, null)
})

test('config: an .mjs default export written with defineConfig loads like JSON', async () => {
  const file = join(FIXTURES, 'good-mjs', 'ws-cluster.config.mjs')
  const config = await loadConfig({ cwd: join(FIXTURES, 'good-mjs'), env: {}, flags: {} })
  assert.equal(config.file, file)
  assert.equal(config.listen.port, 0)
  assert.equal(config.workers, 1)
  assert.equal(config.admin, null)
  assert.equal(config.shutdownTimeout, 5000)
  assert.deepEqual(config.log, { level: 'debug', pretty: true })
  // R32: PROXY protocol without a trusted list trusts only a balancer on this host.
  assert.deepEqual(config.listen.trustedProxies, ['127.0.0.0/8', '::1'])
})

test('config: TLS paths resolve from the config file directory and must be readable files', async (t) => {
  const config = await loadConfig({ file: join(FIXTURES, 'tls.json'), cwd: '/', env: {}, flags: {} })
  assert.deepEqual(config.listen.tls, { cert: join(FIXTURES, 'tls/cert.pem'), key: join(FIXTURES, 'tls/key.pem') })

  const dir = await tempDir(t, { 'cert.pem': 'x' })
  const problems = validateConfig({ ...MINIMAL, listen: { tls: { cert: 'cert.pem', key: '.' } } }, join(dir, 'c.json')).problems
  assert.deepEqual(problems, [{ path: 'listen.tls.key', message: `"${dir}" is not a file` }])
  const missing = validateConfig({ ...MINIMAL, listen: { tls: { cert: 'nope.pem' } } }, join(dir, 'c.json')).problems
  assert.deepEqual(missing, [
    { path: 'listen.tls.key', message: 'is required: a PEM file path (relative to the config file)' },
    { path: 'listen.tls.cert', message: `cannot read "${join(dir, 'nope.pem')}": no such file (ENOENT)` }
  ])
  assert.match(findProblem(problemsOf({ ...MINIMAL, app: 'missing-app.mjs' }), 'app').message, /missing-app\.mjs": no such file \(ENOENT\)/)
})

test('config: unknown keys anywhere are errors with a did-you-mean hint', () => {
  const problems = problemsOf({
    upstreams: { chat: { server: ['http://127.0.0.1:9001'], balance: 'ip-hash' } },
    route: [],
    routes: [{ path: '/ws', upstream: 'chat', idletimeout: '1h' }],
    listen: { prot: 80, tls: { cert: 'tls/cert.pem', key: 'tls/key.pem', ca: 'x' } },
    admin: { hots: '127.0.0.1' },
    log: { levl: 'info' },
    limits: { maxConnectionPerIp: 5 },
    zzzzzzzz: 1
  })
  assert.equal(findProblem(problems, 'route').message, 'unknown key; did you mean "routes"? known keys: upstreams, routes, listen, workers, limits, admin, shutdownTimeout, drainTimeout, closeSpread, headersTimeout, heartbeatTimeout, log, app')
  assert.match(findProblem(problems, 'upstreams.chat.server').message, /^unknown key; did you mean "servers"\?/)
  assert.match(findProblem(problems, 'upstreams.chat.servers').message, /^is required/)
  assert.match(findProblem(problems, 'routes[0].idletimeout').message, /did you mean "idleTimeout"\?/)
  assert.match(findProblem(problems, 'listen.prot').message, /did you mean "port"\?/)
  assert.match(findProblem(problems, 'listen.tls.ca').message, /^unknown key; known keys: cert, key$/)
  assert.match(findProblem(problems, 'admin.hots').message, /did you mean "host"\?/)
  assert.match(findProblem(problems, 'log.levl').message, /did you mean "level"\?/)
  assert.match(findProblem(problems, 'limits.maxConnectionPerIp').message, /did you mean "maxConnectionsPerIp"\?/)
  assert.match(findProblem(problems, 'zzzzzzzz').message, /^unknown key; known keys:/)
  assert.match(findProblem(validateConfig({ ...MINIMAL, upstreams: { chat: { servers: [{ url: 'http://127.0.0.1:1', wieght: 2 }] } } }, null).problems, 'upstreams.chat.servers[0].wieght').message, /did you mean "weight"\?/)
})

test('config: a route naming an undefined upstream says which upstreams exist', () => {
  const problems = problemsOf({
    upstreams: { chat: { servers: ['http://127.0.0.1:9001'] } },
    routes: [{ path: '/ws', upstream: 'chat' }, { path: '/ws2', upstream: 'chat2' }]
  })
  assert.deepEqual(problems, [{ path: 'routes[1].upstream', message: 'got "chat2"; allowed: the name of a defined upstream group (defined: chat)' }])
})

test('config: every bad value is reported with its path, the value and what is allowed', () => {
  const problems = problemsOf({
    upstreams: {
      a: { balance: 'fastest', hashKey: 'ip', keepalive: -1, servers: ['ftp://127.0.0.1', { url: 'http://127.0.0.1:1', weight: 0, maxFails: 1.5, failTimeout: '10 secs', maxConns: 'x', backup: 'yes', down: 1 }] },
      b: { servers: [] }
    },
    routes: [
      { path: 'ws', upstream: 'a', mode: 'socket', connectTimeout: -5, handshakeTimeout: '1w', sendTimeout: '99999999999ms', finTimeout: {}, forwardedHeaders: 'true', preserveHost: null, http: 1 },
      { path: '/a*b', upstream: 'a' },
      { path: '/x', upstream: 'a' },
      { path: '/x', upstream: 'b' },
      { upstream: 7 }
    ],
    listen: { port: 65536, host: '', proxyProtocol: 'on', trustedProxies: ['10.0.0.0/33', 'localhost', 42, '::1/129', '10.0.0.1'] },
    workers: 1025,
    limits: { maxConnections: -1, maxUrlLength: 0 },
    admin: { port: '9090' },
    shutdownTimeout: '30 seconds',
    drainTimeout: '2 hours',
    closeSpread: -1,
    log: { level: 'verbose', pretty: 'yes' }
  })
  const expected: Record<string, RegExp> = {
    'upstreams.a.balance': /^got "fastest"; allowed: "round-robin", "least-conn", "ip-hash", "hash", "random-two"$/,
    'upstreams.a.hashKey': /^got "ip"; allowed: "remote-addr", "header:NAME"/,
    'upstreams.a.keepalive': /^got -1; allowed: an integer from 0 to/,
    'upstreams.a.servers[0]': /^got "ftp:\/\/127.0.0.1"; allowed: an absolute http:\/\/ or https:\/\/ URL/,
    'upstreams.a.servers[1].weight': /^got 0; allowed: an integer from 1 to 1000$/,
    'upstreams.a.servers[1].maxFails': /^got 1.5;/,
    'upstreams.a.servers[1].failTimeout': /^got "10 secs"; allowed: a non-negative number of milliseconds or a string like "500ms"/,
    'upstreams.a.servers[1].maxConns': /^got "x";/,
    'upstreams.a.servers[1].backup': /^got "yes"; allowed: true or false$/,
    'upstreams.a.servers[1].down': /^got 1; allowed: true or false$/,
    'upstreams.b.servers': /^got \[\]; allowed: a non-empty array/,
    'routes[0].path': /^got "ws"; allowed: a path starting with "\/"/,
    'routes[0].mode': /^got "socket"; allowed: "tunnel", "relay"$/,
    'routes[0].connectTimeout': /^got -5;/,
    'routes[0].handshakeTimeout': /^got "1w";/,
    'routes[0].sendTimeout': /at most 2147483647 ms/,
    'routes[0].finTimeout': /^got \{\};/,
    'routes[0].forwardedHeaders': /^got "true"; allowed: true or false$/,
    'routes[0].preserveHost': /^got null;/,
    'routes[0].http': /^got 1;/,
    'routes[1].path': /"\*" is only allowed as the final "\/\*"/,
    'routes[3].path': /^got "\/x", already used by routes\[2\]; allowed: each path once$/,
    'routes[4].path': /^is required/,
    'routes[4].upstream': /^got 7; allowed: the name of a defined upstream group \(defined: a, b\)$/,
    'listen.port': /^got 65536; allowed: an integer from 0 to 65535$/,
    'listen.host': /^got "";/,
    'listen.proxyProtocol': /^got "on"; allowed: true or false$/,
    'listen.trustedProxies[0]': /prefix length "33" is not an integer from 0 to 32/,
    'listen.trustedProxies[1]': /"localhost": not an IPv4 or IPv6 address/,
    'listen.trustedProxies[2]': /must be a string/,
    'listen.trustedProxies[3]': /prefix length "129" is not an integer from 0 to 128/,
    workers: /^got 1025; allowed: "auto" \(one per CPU: os.availableParallelism\(\)\) or an integer from 1 to 1024$/,
    'limits.maxConnections': /^got -1;/,
    'limits.maxUrlLength': /^got 0;/,
    'admin.port': /^got "9090"; allowed: an integer from 0 to 65535$/,
    shutdownTimeout: /^got "30 seconds";/,
    drainTimeout: /^got "2 hours"; allowed: a non-negative number of milliseconds/,
    closeSpread: /^got -1; allowed: a non-negative number of milliseconds/,
    'log.level': /^got "verbose"; allowed: "fatal", "error", "warn", "info", "debug", "trace", "silent"$/,
    'log.pretty': /^got "yes";/
  }
  for (const [path, message] of Object.entries(expected)) assert.match(findProblem(problems, path).message, message, path)
  assert.equal(problems.length, Object.keys(expected).length, JSON.stringify(problems.map(p => p.path)))
})

test('config: required parts, empty groups and non-object roots are problems', () => {
  assert.deepEqual(problemsOf({}).map(p => p.path), ['upstreams', 'routes'])
  assert.deepEqual(problemsOf({ upstreams: {}, routes: [] }).map(p => p.path), ['upstreams', 'routes'])
  assert.deepEqual(problemsOf({ upstreams: { a: {} }, routes: [{ path: '/', upstream: 'a' }] }), [
    { path: 'upstreams.a.servers', message: 'is required: a non-empty array of server URLs or { url, weight, ... } objects' }
  ])
  for (const root of [null, [], 'x', 5]) {
    const { config, problems } = validateConfig(root, null)
    assert.equal(config, null)
    assert.equal(problems[0].path, '(root)')
  }
})

test('config: admin false disables the admin listener; an admin port equal to the listen port is refused', () => {
  assert.equal(validateConfig({ ...MINIMAL, admin: false }, null).config?.admin, null)
  assert.deepEqual(problemsOf({ ...MINIMAL, admin: true, shutdownTimeout: null }), [
    { path: 'admin', message: 'got true; allowed: an object { "port", "host" }, or false to turn the admin listener off' },
    { path: 'shutdownTimeout', message: 'got null; allowed: a non-negative number of milliseconds or a string like "500ms", "60s", "5m", "1h", "7d"' }
  ])
  assert.deepEqual(problemsOf({ ...MINIMAL, listen: { port: 9090 } }), [
    { path: 'admin.port', message: '9090 is also listen.port; the admin listener needs its own port (or "admin": false)' }
  ])
  // Port 0 means "any free port" for both, so they cannot collide.
  assert.deepEqual(problemsOf({ ...MINIMAL, listen: { port: 0 }, admin: { port: 0 } }), [])
  const trusted = validateConfig({ ...MINIMAL, listen: { proxyProtocol: true, trustedProxies: ['10.0.0.0/8'] } }, null).config
  assert.deepEqual(trusted?.listen.trustedProxies, ['10.0.0.0/8'])
})

test('config: the same group and route rules as the plugin (hashKey, duplicate servers, standby-only groups, path syntax, zero timeouts)', () => {
  const problems = problemsOf({
    upstreams: {
      a: { balance: 'least-conn', hashKey: 'header:x-user', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9001/other'] },
      b: { servers: [{ url: 'http://127.0.0.1:9002', backup: true }, { url: 'http://127.0.0.1:9003', down: true }] },
      c: { hashKey: 'cookie:sid', servers: ['http://127.0.0.1:9004'] }
    },
    routes: [
      { path: '/users/:id', upstream: 'a' },
      { path: '/ws?x=1', upstream: 'a' },
      { path: '/ws', upstream: 'b', connectTimeout: 0, handshakeTimeout: '0s', idleTimeout: 0 }
    ],
    limits: { maxUrlLength: 15 }
  })
  assert.deepEqual(problems, [
    { path: 'upstreams.a.hashKey', message: 'got "header:x-user" with balance "least-conn"; allowed: only with balance: "hash"' },
    { path: 'upstreams.a.servers[1]', message: 'got "http://127.0.0.1:9001", already listed as upstreams.a.servers[0]; allowed: each server once per group' },
    { path: 'upstreams.b.servers', message: 'got [{"url":"http://127.0.0.1:9002","backup":true},{"url":"http://127.0.0.1:9003"...; allowed: at least one server that is neither backup nor down' },
    { path: 'upstreams.c.hashKey', message: 'got "cookie:sid" with balance "round-robin"; allowed: only with balance: "hash"' },
    { path: 'routes[0].path', message: 'got "/users/:id"; allowed: a path starting with "/", either literal ("/ws") or a prefix ending in "/*" ("/chat/*"), without ":" (no parameters, query or fragment)' },
    { path: 'routes[1].path', message: 'got "/ws?x=1"; allowed: a path starting with "/", either literal ("/ws") or a prefix ending in "/*" ("/chat/*"), without "?" (no parameters, query or fragment)' },
    { path: 'routes[2].connectTimeout', message: 'got 0; allowed: a duration above 0' },
    { path: 'routes[2].handshakeTimeout', message: 'got "0s"; allowed: a duration above 0' },
    { path: 'limits.maxUrlLength', message: 'got 15; allowed: an integer from 16 to 1048576' }
  ])
})

test('R84 config: upstreams.NAME.tls.ca names a file relative to the config file; the workers get its certificates, not the path', () => {
  const authority = createTestCa(['backend.test'])
  const dir = mkdtempSync(join(tmpdir(), 'wsc-ca-'))
  try {
    mkdirSync(join(dir, 'certs'))
    writeFileSync(join(dir, 'certs', 'ca.pem'), authority.caPem)
    const input = { ...MINIMAL, upstreams: { chat: { servers: ['https://127.0.0.1:9443'], tls: { ca: 'certs/ca.pem' } } }, routes: [{ path: '/ws', upstream: 'chat' }] }
    // The working directory is elsewhere: only the config file's folder has certs/ca.pem.
    const { config, problems } = validateConfig(input, join(dir, 'ws-cluster.config.json'))
    assert.deepEqual(problems, [])
    const ca = config?.upstreams.chat.tls?.ca
    assert.ok(Array.isArray(ca) && ca.length === 1 && ca[0].includes('-----BEGIN CERTIFICATE-----'), 'the workers get PEM text')
    const missing = validateConfig(input, join(tmpdir(), 'elsewhere.json')).problems
    assert.equal(missing[0]?.path, 'upstreams.chat.tls.ca')
    assert.match(missing[0]?.message ?? '', /cannot read the file \(ENOENT\)/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    authority.remove()
  }
})
