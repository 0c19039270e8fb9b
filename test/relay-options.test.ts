import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveOptions } from '../plugin/index.js'
import { validateConfig } from '../cluster/config/config-validate.js'

// Relay line R79 (validation): relay options go through the one validator,
// for the plugin and the config file alike; they are refused on a tunnel
// route; hook paths resolve from where the options came from.

const UPSTREAMS = { a: { servers: ['http://127.0.0.1:9001'] } }

function problemsOf (relay: unknown, mode = 'relay'): Array<{ path: string, message: string }> {
  try {
    resolveOptions({ upstreams: UPSTREAMS, routes: [{ path: '/ws', upstream: 'a', mode, relay }] })
  } catch (err) {
    return (err as Error & { problems: Array<{ path: string, message: string }> }).problems
  }
  return []
}

test('R79 a relay route without options gets the documented defaults: no hook, 2 pool threads, 16 MiB messages, no rate limit, no heartbeat, no compression', () => {
  const [route] = resolveOptions({ upstreams: UPSTREAMS, routes: [{ path: '/ws', upstream: 'a', mode: 'relay' }] }).routes
  assert.deepEqual(route.relay, {
    onMessage: null,
    hookThreads: 2,
    maxMessageSize: { fromClient: 16 * 1024 * 1024, fromUpstream: 16 * 1024 * 1024 },
    rateLimit: null,
    heartbeat: null,
    compression: { client: false, upstream: false }
  })
  const [tuned] = resolveOptions({
    upstreams: UPSTREAMS,
    routes: [{ path: '/ws', upstream: 'a', mode: 'relay', relay: { maxMessageSize: { fromUpstream: 10 }, rateLimit: { messages: 5, per: '2s' }, heartbeat: { interval: '30s' }, compression: { client: true } } }]
  }).routes
  assert.deepEqual(tuned.relay?.maxMessageSize, { fromClient: 16 * 1024 * 1024, fromUpstream: 10 })
  assert.deepEqual(tuned.relay?.rateLimit, { messages: 5, per: 2000 })
  assert.deepEqual(tuned.relay?.heartbeat, { interval: 30_000, timeout: 10_000 })
  assert.deepEqual(tuned.relay?.compression, { client: true, upstream: false })
})

test('R79 bad relay options name the option, the value and what is allowed; relay options on a tunnel route say why they are refused', () => {
  const expected: Array<[unknown, string, RegExp]> = [
    [{ maxMessageSize: 0 }, 'routes[0].relay.maxMessageSize', /^got 0; allowed: an integer from 1 to 1073741824$/],
    [{ maxMessageSize: { fromClient: 'big' } }, 'routes[0].relay.maxMessageSize.fromClient', /^got "big"; allowed: an integer from 1/],
    [{ rateLimit: { messages: 10 } }, 'routes[0].relay.rateLimit.per', /^is required: a duration above 0/],
    [{ rateLimit: { messages: 0, per: '1s' } }, 'routes[0].relay.rateLimit.messages', /^got 0; allowed: an integer from 1 to 1000000$/],
    [{ heartbeat: { interval: '10s', timeout: '20s' } }, 'routes[0].relay.heartbeat.timeout', /^got "20s"; allowed: a duration above 0 and at most the interval \(10000 ms\)/],
    [{ heartbeat: { interval: 0 } }, 'routes[0].relay.heartbeat.interval', /^got 0; allowed: a duration above 0$/],
    [{ compression: 'yes' }, 'routes[0].relay.compression', /^got "yes"; allowed: true, false, or \{ client\?, upstream\? \}$/],
    [{ hookThreads: 100 }, 'routes[0].relay.hookThreads', /^got 100; allowed: an integer from 1 to 64$/],
    [{ onMessage: 42 }, 'routes[0].relay.onMessage', /^got 42; allowed: a function, or the path of an ES module exporting onMessage$/],
    [{ onMesage: () => undefined }, 'routes[0].relay.onMesage', /^unknown key; did you mean "onMessage"\?/]
  ]
  for (const [relay, path, message] of expected) {
    const problems = problemsOf(relay)
    assert.equal(problems.length, 1, `${path}: ${JSON.stringify(problems)}`)
    assert.equal(problems[0].path, path)
    assert.match(problems[0].message, message, path)
  }
  assert.deepEqual(problemsOf({ maxMessageSize: 5 }, 'tunnel'), [{
    path: 'routes[0].relay',
    message: 'only applies to relay routes: a tunnel carries bytes and never sees a message; set "mode": "relay" on this route, or remove "relay"'
  }])
})

test('R79 a hook path resolves from the config file in the cluster (and from the working directory in the plugin); the workers get it absolute', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsc-relay-options-'))
  try {
    writeFileSync(join(dir, 'hook.mjs'), 'export function onMessage () {}\n')
    const input = { upstreams: UPSTREAMS, routes: [{ path: '/ws', upstream: 'a', mode: 'relay', relay: { onMessage: './hook.mjs', maxMessageSize: 100 } }], workers: 1 }
    const { config, problems } = validateConfig(input, join(dir, 'ws-cluster.config.json'))
    assert.deepEqual(problems, [])
    assert.deepEqual(config?.routes[0].relay, { onMessage: join(dir, 'hook.mjs'), maxMessageSize: 100 })
    const elsewhere = validateConfig(input, join(tmpdir(), 'ws-cluster.config.json'))
    assert.equal(elsewhere.problems[0].path, 'routes[0].relay.onMessage')
    assert.match(elsewhere.problems[0].message, /^cannot read ".*hook\.mjs": no such file \(ENOENT\)/)
    // The plugin takes the same path relative to the current directory, or absolute.
    const [route] = resolveOptions({ upstreams: UPSTREAMS, routes: [{ path: '/ws', upstream: 'a', mode: 'relay', relay: { onMessage: join(dir, 'hook.mjs') } }] }).routes
    assert.equal(route.relay?.onMessage, join(dir, 'hook.mjs'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
