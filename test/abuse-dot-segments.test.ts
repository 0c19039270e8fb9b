import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { normalizePath } from '../plugin/path-normalization.js'
import { closeEchoBackends, startNamedEchoBackends, type EchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startProxy, type ProxyUnderTest } from './helpers/plugin-harness.js'
import { parseResponse, RawClient, requestHead } from './helpers/raw-http.js'

// Edge hardening, failure 6: "/pub/../secret" matched the "/pub/*" route and
// went upstream as is, where the upstream resolved it to "/secret": past the
// route and past any hook guarding "/secret". Paths are now normalised as
// nginx does before anything matches them, and the normalised path is what
// the upstream gets.

test('R82 normalisation vectors: // merged, . and .. resolved (also as %2e), the root never climbed, hidden dot segments refused', () => {
  const same: string[] = ['/', '/ws', '/a/b/', '/.well-known/x', '/a%2Fb', '/a/%2e%2e%2e/b', '/a/...', '/a/.hidden', '/a;b/c']
  for (const path of same) assert.deepEqual(normalizePath(path), { path, problem: null }, path)
  const resolved: Array<[string, string]> = [
    ['/a/b/../c', '/a/c'], ['/a/./b', '/a/b'], ['//a///b', '/a/b'], ['/a/b/..', '/a/'], ['/a/.', '/a/'],
    ['/a/%2E%2e/b', '/b'], ['/a/.%2e/b', '/b'], ['/a/%2e/b', '/a/b'], ['/pub/../secret', '/secret'], ['/a/b/../../', '/']
  ]
  for (const [path, expected] of resolved) assert.deepEqual(normalizePath(path), { path: expected, problem: null }, path)
  for (const path of ['/..', '/../a', '/a/../..', '/a/%2e%2e/%2e%2e/b']) {
    assert.match(String(normalizePath(path).problem), /climbs above the root/, path)
  }
  for (const path of ['/a/..%2Fb', '/a/..%5cb', '/a/..\\b', '/a/..;jsessionid=1/b', '/a/.;x/b', '/a/b%2F..%2F..']) {
    assert.match(String(normalizePath(path).problem), /hides a dot segment/, path)
  }
})

interface Setup { proxy: ProxyUnderTest, pub: EchoBackend, secret: EchoBackend }

/** `/pub/*` and `/secret/*` to two backends; an onRequest hook refuses everything under /secret, as an auth hook would. */
async function withRoutes (run: (setup: Setup) => Promise<void>): Promise<void> {
  const baseline = openFdCount()
  const [pub, secret] = await startNamedEchoBackends('pub', 'secret')
  const proxy = await startProxy({
    upstreams: { pub: { servers: [pub.url] }, secret: { servers: [secret.url] } },
    routes: [{ path: '/pub/*', upstream: 'pub', http: true }, { path: '/secret/*', upstream: 'secret', http: true }]
  }, {
    before: (app: FastifyInstance) => {
      app.addHook('onRequest', async (request, reply) => {
        if (request.url.startsWith('/secret')) return await reply.code(401).send({ error: 'who are you' })
      })
      app.get('/app/*', async (request) => ({ url: request.url }))
    }
  })
  try {
    await run({ proxy, pub, secret })
  } finally {
    await proxy.close()
    await closeEchoBackends([pub, secret])
  }
  await assertNoFdLeak(baseline)
}

async function ask (port: number, head: string): Promise<{ status: number, body: string }> {
  const client = await RawClient.open(port)
  try {
    client.write(head)
    await client.head()
    // Upgrades that switch stay open: what arrived with the head is enough.
    const bytes = client.received.toString('latin1').startsWith('HTTP/1.1 101') ? client.received : await client.untilClosed()
    const { head: parsed, body } = parseResponse(bytes)
    return { status: parsed.statusCode, body: body.toString() }
  } finally {
    await client.destroy()
  }
}

const plain = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`

test('R82 upgrades: /pub/../secret and /pub/%2e%2e/secret reach the /secret route and its hook (401), never the /pub upstream; the upstream gets the normalised path and the query as sent', async () => {
  await withRoutes(async ({ proxy, pub, secret }) => {
    for (const path of ['/pub/../secret/x', '/pub/%2e%2e/secret/x', '/pub/.%2E/secret/x']) {
      assert.equal((await ask(proxy.port, requestHead({ path }))).status, 401, path)
    }
    assert.equal(pub.upgrades.length + secret.upgrades.length, 0, 'no upstream saw the escape')
    assert.equal((await ask(proxy.port, requestHead({ path: '/pub//a/./b/../c?next=/../y&x=%2e%2e' }))).status, 101)
    assert.equal(pub.upgrades[0].url, '/pub/a/c?next=/../y&x=%2e%2e')
  })
})

test('R82 paths that climb above the root or hide a dot segment get 400 WS_CLUSTER_BAD_PATH, as upgrades and as plain requests', async () => {
  await withRoutes(async ({ proxy, pub, secret }) => {
    for (const path of ['/pub/../../etc/passwd', '/../pub/x', '/pub/..%2fsecret/x', '/pub/..;x/secret/x', '/pub/..%5Csecret']) {
      for (const head of [requestHead({ path }), plain(path)]) {
        const answer = await ask(proxy.port, head)
        assert.equal(answer.status, 400, `${path}: ${answer.body}`)
        assert.equal((JSON.parse(answer.body) as { code: string }).code, 'WS_CLUSTER_BAD_PATH')
      }
    }
    assert.equal(pub.upgrades.length + pub.requests.length + secret.upgrades.length + secret.requests.length, 0)
  })
})

test('R82 plain passthrough agrees with upgrades, and paths of the application that no route of the plugin owns are left as they came', async () => {
  await withRoutes(async ({ proxy, pub, secret }) => {
    assert.equal((await ask(proxy.port, plain('/pub/../secret/x'))).status, 401)
    const ok = await ask(proxy.port, plain('/pub/a/../b//c?q=/../z'))
    assert.equal(ok.status, 200)
    assert.equal((JSON.parse(ok.body) as { url: string }).url, '/pub/b/c?q=/../z')
    assert.equal(secret.requests.length, 0)
    assert.equal(pub.requests.length, 1)
    const app = await ask(proxy.port, plain('/app/x/../y'))
    assert.equal((JSON.parse(app.body) as { url: string }).url, '/app/x/../y', 'not the plugin\'s path: not rewritten')
  })
})
