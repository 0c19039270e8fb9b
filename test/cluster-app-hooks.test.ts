import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet } from './helpers/cluster-process.js'
import { closeWs, connectWs, echoOnce } from './helpers/ws-clients.js'

// R61: the config's `app` is a plain async function, not wrapped with
// fastify-plugin; the onRequest hook it adds must still guard the proxy route.
const fixture = useWhoamiCluster({
  config: ({ dir }) => {
    writeFileSync(join(dir, 'auth-app.mjs'), `export default async function auth (app) {
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-token'] !== 'let-me-in') return reply.code(401).send({ error: 'token required' })
  })
  app.get('/open', async () => ({ ok: true }))
}
`)
    return { app: 'auth-app.mjs' }
  }
})

test('R61 an onRequest hook of a plain app plugin guards the proxied WebSocket route: 401 without the token, 101 with it', async () => {
  const url = `ws://127.0.0.1:${fixture.cluster.port}/ws`
  assert.equal(await connectWs(url), 401, 'no token: refused before any upstream connection')
  assert.equal(await connectWs(url, [], { headers: { 'x-token': 'wrong' } }), 401)
  assert.equal(fixture.backend.upgrades.length, 0, 'the upstream never saw a refused upgrade')
  const ws = await connectWs(url, [], { headers: { 'x-token': 'let-me-in' } })
  assert.ok(ws instanceof WebSocket, `expected a tunnel, got ${String(ws)}`)
  try {
    assert.equal(await echoOnce(ws, 'authorised'), 'authorised')
  } finally {
    await closeWs(ws)
  }
  assert.equal(fixture.backend.upgrades.length, 1)
})

test('R61 the same hook guards the app\'s own routes', async () => {
  assert.equal((await httpGet(fixture.cluster.port, '/open')).status, 401)
})
