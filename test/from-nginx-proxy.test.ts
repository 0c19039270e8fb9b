import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import type { WsProxyOptions } from '../plugin/index.js'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { closeEchoBackends, startNamedEchoBackends, type EchoBackend } from './helpers/backends.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { nginxFixture } from './helpers/nginx-fixtures.js'
import { closeWs, echo, httpGet, openWs, startProxy } from './helpers/plugin-harness.js'

// The translated routes really proxy: seed configs, with their placeholder ports pointed at
// live echo backends, run in the plugin. R38: no file descriptor may outlive the file.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

/** The plugin part of a seed's translation, with 127.0.0.1:900N replaced by the Nth backend's port. */
function translatedOptions (file: string, backends: EchoBackend[]): WsProxyOptions {
  let text = nginxFixture(file)
  backends.forEach((backend, i) => { text = text.replaceAll(`127.0.0.1:${9001 + i}`, `127.0.0.1:${backend.port}`) })
  const { config } = translateNginx(text)
  return { upstreams: config.upstreams, routes: config.routes }
}

test('proxy: seed 002 ("location /" with an upstream of two) carries WebSockets and plain HTTP on "/*"', async (t) => {
  const backends = await startNamedEchoBackends('one', 'two')
  t.after(() => closeEchoBackends(backends))
  const proxy = await startProxy(translatedOptions('seed-002-map-upstream-server.conf', backends))
  t.after(() => proxy.close())

  const ws = await openWs(`${proxy.wsBase}/chat/room?x=1`)
  t.after(() => closeWs(ws))
  assert.equal(await echo(ws, 'hello through the translation'), 'hello through the translation')
  const upgrade = backends.flatMap(b => b.upgrades)[0]
  assert.equal(upgrade.url, '/chat/room?x=1')
  assert.equal(upgrade.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(upgrade.headers['x-real-ip'], '127.0.0.1')

  const plain = await httpGet(`${proxy.httpBase}/index.html`)
  assert.equal(plain.status, 200)
  assert.equal(JSON.parse(plain.body).url, '/index.html')
})

test('proxy: seed 004 ("location /websocket" to an address) routes /websocket and /websocket/*', async (t) => {
  const backends = await startNamedEchoBackends('only')
  t.after(() => closeEchoBackends(backends))
  const proxy = await startProxy(translatedOptions('seed-004-location-websocket.conf', backends))
  t.after(() => proxy.close())

  for (const path of ['/websocket', '/websocket/live']) {
    const ws = await openWs(`${proxy.wsBase}${path}`)
    assert.equal(await echo(ws, path), path)
    await closeWs(ws)
  }
  assert.deepEqual(backends[0].upgrades.map(req => req.url), ['/websocket', '/websocket/live'])
})
