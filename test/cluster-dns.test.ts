import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { runCheck } from '../cluster/cli/check-command.js'
import type { StatusReport } from '../cluster/status-report.js'
import { startEchoBackend } from './helpers/backends.js'
import { makeClusterDir, httpGet, runCli, startCluster } from './helpers/cluster-process.js'
import { tempDir } from './helpers/config-fixtures.js'
import { startDnsServer } from './helpers/dns-server.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { openWs } from './helpers/ws-clients.js'

// R38: the file-wide check covers the spawned cluster's pipes too.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

const NAME = 'chat.dns.test'

async function status (adminPort: number): Promise<StatusReport> {
  const res = await httpGet(adminPort, '/status')
  assert.equal(res.status, 200)
  return JSON.parse(res.body) as StatusReport
}

test('R50 /status and `ws-cluster status` show each host-name server: its addresses, last resolution and last error', async () => {
  const dns = await startDnsServer()
  const backend = await startEchoBackend({ name: 'only' })
  dns.set(NAME, { A: ['127.0.0.1'], ttl: 30 })
  const dir = makeClusterDir()
  const cluster = await startCluster(dir.dir, {
    upstreams: { chat: { resolver: [dns.address], resolveInterval: '300ms', servers: [`http://${NAME}:${backend.port}`] } },
    routes: [{ path: '/ws', upstream: 'chat' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: { port: 0 },
    workers: 2
  })
  try {
    const adminPort = cluster.adminPort as number
    const ws = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
    ws.close()

    const report = await status(adminPort)
    const group = report.upstreams.chat
    assert.deepEqual(group.servers.map(server => [server.url, server.name]), [[`http://127.0.0.1:${backend.port}`, `http://${NAME}:${backend.port}`]])
    assert.deepEqual(group.servers[0].workers, { up: 2, failed: 0, down: 0 })
    assert.equal(group.dns?.length, 1)
    const [name] = group.dns ?? []
    assert.equal(name.name, `http://${NAME}:${backend.port}`)
    assert.deepEqual(name.addresses, [`http://127.0.0.1:${backend.port}`])
    assert.equal(name.ttl, 30)
    assert.equal(name.lastError, null)
    assert.ok(typeof name.resolvedAt === 'number' && name.resolvedAt > Date.now() - 60_000)

    const text = await runCli(['status', '--config', join(dir.dir, 'ws-cluster.config.json')], dir.dir)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`dns http://${NAME.replace(/\./g, '\\.')}:${backend.port}: 1 address, resolved \\d{4}-`))

    await dns.down()
    let failing: StatusReport | null = null
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      failing = await status(adminPort)
      if (failing.upstreams.chat.dns?.[0].lastError !== null) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const failed = failing?.upstreams.chat.dns?.[0]
    assert.equal(failed?.lastError?.code, 'ECONNREFUSED')
    assert.deepEqual(failed?.addresses, [`http://127.0.0.1:${backend.port}`], 'the last good set is kept')
    const down = await runCli(['status', '--config', join(dir.dir, 'ws-cluster.config.json')], dir.dir)
    assert.match(down.stdout, /last error ECONNREFUSED at \d{4}-.*\(keeping the last good addresses\)/)
    await cluster.waitForLog(line => line.msg === 'upstream name could not be resolved: keeping the last good addresses' && line.level === 40)
    // The cluster still serves through the kept address.
    const again = await openWs(`ws://127.0.0.1:${cluster.port}/ws`)
    again.close()
  } finally {
    await cluster.kill()
    await backend.close()
    await dns.close()
    dir.cleanup()
  }
})

class Capture extends Writable {
  text = ''
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

test('R49 check: a host-name server passes; one that does not resolve now is a warning on stderr, and the exit code stays 0', async (t) => {
  const baseline = openFdCount()
  const dns = await startDnsServer()
  dns.set(NAME, { A: ['127.0.0.1'] })
  try {
    const config = {
      upstreams: {
        chat: { resolver: [dns.address], servers: [`http://${NAME}:9000`, 'http://gone.dns.test:9000'] },
        srv: { resolver: [dns.address], resolveInterval: '10s', servers: [{ url: 'http://_ws._tcp.none.dns.test', srv: true }] }
      },
      routes: [{ path: '/ws', upstream: 'chat' }, { path: '/srv', upstream: 'srv' }]
    }
    const dir = await tempDir(t, { 'ws-cluster.config.json': config })
    const file = join(dir, 'ws-cluster.config.json')
    const stdout = new Capture()
    const stderr = new Capture()
    const code = await runCheck({}, { cwd: dir, env: {}, stdout, stderr })
    assert.equal(code, 0)
    assert.equal(stdout.text, `configuration file ${file} is valid\n`)
    assert.equal(stderr.text,
      `${file}: warning: upstreams.chat.servers[1]: "gone.dns.test" does not resolve now (ENOTFOUND); ws-cluster keeps resolving it every 30s; until it resolves it gives the group no server\n` +
      `${file}: warning: upstreams.srv.servers[0]: "_ws._tcp.none.dns.test" does not resolve now (ENOTFOUND); ws-cluster keeps resolving it every 10s; until it resolves it gives the group no server\n`)
  } finally {
    await dns.close()
  }
  await assertNoFdLeak(baseline)
})
