import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { httpGet, makeClusterDir, runCli, startCluster, type RunningCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeEvent } from './helpers/relay-fixture.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

// Relay line R79: relay mode through `ws-cluster start` — a hook given in
// the JSON config as a path relative to the file runs in each worker's
// pool, over TLS (R43), with its limits counted in /metrics — and
// `ws-cluster check` proving that hook modules exist and load.

let baseline = 0
let backend: EchoBackend
let cluster: RunningCluster
let dir: { dir: string, cleanup: () => void }
let ca: Buffer

const SHOUT_HOOK = `export function onMessage ({ direction, data }) {
  if (direction === 'fromClient') return { action: 'replace', data: data.toString().toUpperCase() }
}
`

const relayRoute = { path: '/ws', upstream: 'echo', mode: 'relay', relay: { onMessage: 'hooks/shout.mjs', maxMessageSize: 64 } }

before(async () => {
  baseline = openFdCount()
  backend = await startEchoBackend()
  dir = makeClusterDir()
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir.dir, 'key.pem'), '-out', join(dir.dir, 'cert.pem'), '-days', '1'],
  { stdio: 'ignore' })
  ca = readFileSync(join(dir.dir, 'cert.pem'))
  mkdirSync(join(dir.dir, 'hooks'))
  writeFileSync(join(dir.dir, 'hooks', 'shout.mjs'), SHOUT_HOOK)
  cluster = await startCluster(dir.dir, {
    upstreams: { echo: { servers: [backend.url] } },
    routes: [relayRoute],
    listen: { port: 0, host: '127.0.0.1', tls: { cert: 'cert.pem', key: 'key.pem' } },
    admin: { port: 0, host: '127.0.0.1' },
    workers: 2,
    shutdownTimeout: '1s'
  })
})

after(async () => {
  await cluster?.kill()
  await backend?.close()
  dir?.cleanup()
  await assertNoFdLeak(baseline)
})

test('R79 relay through the cluster over TLS: the hook module named relative to the config file rewrites messages in the worker; a limit close shows in /metrics', async () => {
  const ws = await openWs(`wss://127.0.0.1:${cluster.port}/ws`, [], { ca })
  try {
    assert.equal(await echoOnce(ws, 'quiet words'), 'QUIET WORDS')
    assert.equal(backend.upgrades[0].headers['x-forwarded-proto'], 'https')
  } finally {
    await closeWs(ws)
  }
  const big = await openWs(`wss://127.0.0.1:${cluster.port}/ws`, [], { ca })
  const closed = closeEvent(big)
  big.send('x'.repeat(65))
  assert.equal((await closed)[0], 1009)
  // The worker counts the close once its relay has noticed it; /metrics is polled, at most 5 s.
  let metrics = ''
  for (let tries = 0; tries < 50 && !/ws_cluster_route_messages_too_big_total\{route="\/ws"\} 1\b/.test(metrics); tries++) {
    metrics = (await httpGet(cluster.adminPort as number, '/metrics')).body
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  assert.match(metrics, /ws_cluster_route_messages_too_big_total\{route="\/ws"\} 1\b/)
  assert.match(metrics, /ws_cluster_route_messages_total\{route="\/ws",direction="fromClient"\} 1\b/, 'the message over the limit was refused before it counted')
  assert.match(metrics, /ws_cluster_route_rate_limited_total\{route="\/ws"\} 0\b/)
  assert.match(metrics, /ws_cluster_route_hook_errors_total\{route="\/ws"\} 0\b/)
})

test('R79 check: a hook module that is missing, does not load or exports no hook is an error naming routes[0].relay.onMessage; a good one passes', async () => {
  const base = { upstreams: { echo: { servers: ['http://127.0.0.1:9001'] } }, admin: false }
  const cases: Array<{ name: string, hook: string, file?: string, expect: RegExp | null }> = [
    { name: 'good', hook: 'hooks/shout.mjs', expect: null },
    { name: 'missing', hook: 'hooks/missing.mjs', expect: /routes\[0\]\.relay\.onMessage: cannot read ".*hooks\/missing\.mjs": no such file \(ENOENT\)/ },
    { name: 'broken', hook: 'hooks/broken.mjs', file: 'export function onMessage ( {\n', expect: /routes\[0\]\.relay\.onMessage: cannot load the hook module: .*SyntaxError|routes\[0\]\.relay\.onMessage: cannot load the hook module: .*Unexpected/ },
    { name: 'no export', hook: 'hooks/nothing.mjs', file: 'export const x = 1\n', expect: /routes\[0\]\.relay\.onMessage: cannot load the hook module: .*exports no onMessage function and no default function \(exports: x\)/ }
  ]
  for (const { name, hook, file, expect } of cases) {
    if (file !== undefined) writeFileSync(join(dir.dir, hook), file)
    const config = join(dir.dir, `check-${name.replace(' ', '-')}.json`)
    writeFileSync(config, JSON.stringify({ ...base, routes: [{ ...relayRoute, relay: { onMessage: hook } }] }))
    const { code, stdout, stderr } = await runCli(['check', '--config', config], dir.dir)
    if (expect === null) {
      assert.equal(code, 0, `${name}: ${stderr}`)
      assert.equal(stdout, `configuration file ${config} is valid\n`)
    } else {
      assert.equal(code, 1, name)
      assert.match(stderr, expect, name)
    }
  }
  // Relay options on a tunnel route, and a function where only a path can go (a .mjs config), are refused too.
  const mjs = join(dir.dir, 'check-function.mjs')
  writeFileSync(mjs, `export default { upstreams: { echo: { servers: ['http://127.0.0.1:9001'] } }, admin: false,
  routes: [{ path: '/ws', upstream: 'echo', mode: 'relay', relay: { onMessage: () => undefined } }, { path: '/t', upstream: 'echo', relay: { maxMessageSize: 5 } }] }\n`)
  const { code, stderr } = await runCli(['check', '--config', mjs], dir.dir)
  assert.equal(code, 1)
  assert.match(stderr, /routes\[0\]\.relay\.onMessage: got a function; allowed: the path of an ES module exporting onMessage \(relative to the config file\); worker processes cannot receive a function/)
  assert.match(stderr, /routes\[1\]\.relay: only applies to relay routes/)
})
