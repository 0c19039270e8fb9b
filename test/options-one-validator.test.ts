import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveOptions } from '../plugin/index.js'
import { validateConfig } from '../cluster/config/config-validate.js'

// One validator: the plugin's checks the proxy part of the cluster's config
// file too, so the same mistake gets the same path and message in
// `fastify.register(wsProxy, …)` and in `ws-cluster check`.

const GOOD_UPSTREAMS = { chat: { servers: ['http://127.0.0.1:9001'] } }
const GOOD_ROUTES = [{ path: '/ws', upstream: 'chat' }]

const MISTAKES: Array<{ name: string, options: Record<string, unknown> }> = [
  { name: 'misspelt server key', options: { upstreams: { chat: { servers: [{ url: 'http://127.0.0.1:9001', wieght: 2 }] } }, routes: GOOD_ROUTES } },
  { name: 'route to an undefined group', options: { upstreams: GOOD_UPSTREAMS, routes: [{ path: '/ws', upstream: 'chat2' }] } },
  { name: 'unit-less duration', options: { upstreams: GOOD_UPSTREAMS, routes: [{ path: '/ws', upstream: 'chat', idleTimeout: '90' }] } },
  { name: 'hashKey without hash', options: { upstreams: { chat: { hashKey: 'cookie:sid', servers: ['http://127.0.0.1:9001'] } }, routes: GOOD_ROUTES } },
  { name: 'duplicate server', options: { upstreams: { chat: { servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9001/x'] } }, routes: GOOD_ROUTES } },
  { name: 'bad limit', options: { upstreams: GOOD_UPSTREAMS, routes: GOOD_ROUTES, limits: { maxUrlLength: 8 } } },
  {
    name: 'several at once',
    options: { upstreams: { chat: { balance: 'fastest', servers: ['ftp://x'] } }, routes: [{ path: 'ws', upstream: 'chat', connectTimeout: 0 }, { path: '/ws', upstream: 'nope' }] }
  }
]

function pluginProblems (options: Record<string, unknown>): Array<{ path: string, message: string }> {
  try {
    resolveOptions(options)
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'WS_CLUSTER_INVALID_OPTION')
    return (err as Error & { problems: Array<{ path: string, message: string }> }).problems
  }
  assert.fail('the plugin accepted invalid options')
}

test('one validator: a plugin option error and the same config-file error name the same path and message, every problem listed', () => {
  for (const { name, options } of MISTAKES) {
    const fromPlugin = pluginProblems(options)
    const fromConfig = validateConfig({ ...options, workers: 1 }, null).problems
    assert.ok(fromPlugin.length > 0, name)
    assert.deepEqual(fromConfig, fromPlugin, name)
  }
  const several = pluginProblems(MISTAKES[MISTAKES.length - 1].options)
  assert.deepEqual(several.map(p => p.path), ['upstreams.chat.balance', 'upstreams.chat.servers[0]', 'routes[0].path', 'routes[0].connectTimeout', 'routes[1].upstream'])
})

test('one validator: the thrown error names the first problem and counts the rest', () => {
  assert.throws(() => resolveOptions(MISTAKES[MISTAKES.length - 1].options), (err: Error) => {
    assert.match(err.message, /^Invalid option upstreams\.chat\.balance: got "fastest"; allowed: "round-robin"/)
    assert.match(err.message, /\(and 4 more: upstreams\.chat\.servers\[0\]: got "ftp:\/\/x"/)
    return true
  })
})
