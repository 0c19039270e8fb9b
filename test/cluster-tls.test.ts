import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { get } from 'node:https'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { startEchoBackend, type EchoBackend } from './helpers/backends.js'
import { makeClusterDir, runCli, startCluster, writeWhoamiApp, type RunningCluster, type Whoami } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { proxyV1 } from './helpers/proxy-header.js'
import { closeWs, echoOnce, openWs } from './helpers/ws-clients.js'

let baseline = 0
let backend: EchoBackend
let cluster: RunningCluster
let proxied: RunningCluster
let dir: { dir: string, cleanup: () => void }
let ca: Buffer

let base: Record<string, unknown>

function makeCert (dir: string, name: string, commonName: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${commonName}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, `${name}-key.pem`), '-out', join(dir, `${name}-cert.pem`), '-days', '1'],
  { stdio: 'ignore' })
}

before(async () => {
  baseline = openFdCount()
  backend = await startEchoBackend()
  dir = makeClusterDir()
  makeCert(dir.dir, 'first', 'localhost')
  ca = readFileSync(join(dir.dir, 'first-cert.pem'))
  base = {
    upstreams: { echo: { servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    admin: false,
    workers: 2,
    shutdownTimeout: '1s',
    app: writeWhoamiApp(dir.dir)
  }
  cluster = await startCluster(dir.dir, { ...base, listen: { port: 0, host: '127.0.0.1', tls: { cert: 'first-cert.pem', key: 'first-key.pem' } } })
  // The PROXY-protocol cluster lives in a subfolder: its own config file and run state.
  const sub = join(dir.dir, 'proxied')
  mkdirSync(sub)
  proxied = await startCluster(sub, {
    ...base,
    listen: { port: 0, host: '127.0.0.1', tls: { cert: '../first-cert.pem', key: '../first-key.pem' }, proxyProtocol: true, trustedProxies: ['127.0.0.1'] }
  })
})

after(async () => {
  await cluster?.kill()
  await proxied?.kill()
  await backend?.close()
  dir?.cleanup()
  await assertNoFdLeak(baseline)
})

async function httpsWhoami (port: number, localAddress = '127.0.0.1'): Promise<Whoami> {
  return await new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/whoami', ca, localAddress, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve(JSON.parse(body) as Whoami))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

test('R43 wss through the cluster: TLS handshake in the worker, echo, X-Forwarded-Proto https', async () => {
  const ws = await openWs(`wss://127.0.0.1:${cluster.port}/ws`, [], { ca })
  try {
    assert.equal(await echoOnce(ws, 'secure hello'), 'secure hello')
    const upgrade = backend.upgrades.at(-1)
    assert.equal(upgrade?.headers['x-forwarded-proto'], 'https')
    assert.equal(upgrade?.headers['x-forwarded-for'], '127.0.0.1')
  } finally {
    await closeWs(ws)
  }
})

test('R43 R33 over TLS the worker sees an encrypted socket and stickiness holds per client address', async () => {
  const pids = new Set<number>()
  for (let i = 1; i <= 12; i++) {
    const address = `127.0.8.${i}`
    const a = await httpsWhoami(cluster.port, address)
    const b = await httpsWhoami(cluster.port, address)
    assert.equal(a.encrypted, true)
    assert.equal(a.client, address)
    assert.equal(a.pid, b.pid)
    pids.add(a.pid)
  }
  assert.equal(pids.size, 2)
})

test('R43 R38 a plain-text client on the TLS port is closed and the worker keeps serving', async () => {
  const before = await httpsWhoami(cluster.port, '127.0.8.50')
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: '127.0.8.50' })
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('not closed')) }, 5000)
    socket.on('error', () => {})
    socket.once('connect', () => socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n'))
    socket.once('close', () => { clearTimeout(timer); resolve() })
  })
  assert.equal((await httpsWhoami(cluster.port, '127.0.8.50')).pid, before.pid)
})

/**
 * GET /whoami over TLS behind a PROXY v1 header. With `sameWrite`, the header
 * and the TLS ClientHello leave in one write, so the primary reads part of
 * the handshake with the header and must pass those bytes on.
 */
async function proxiedTlsWhoami (source: string, sameWrite: boolean): Promise<Whoami> {
  const header = proxyV1(source, 1234, '127.0.0.1', 443)
  const raw = netConnect({ host: '127.0.0.1', port: proxied.port })
  let transport: Duplex = raw
  if (sameWrite) {
    let first = true
    const glued = new Duplex({
      write (chunk: Buffer, _encoding, callback) {
        raw.write(first ? Buffer.concat([header, chunk]) : chunk, callback)
        first = false
      },
      read () {},
      destroy (err, callback) {
        raw.destroy()
        callback(err)
      }
    })
    raw.on('data', (chunk: Buffer) => glued.push(chunk))
    raw.on('end', () => glued.push(null))
    raw.on('error', (err) => glued.destroy(err))
    transport = glued
  } else {
    raw.write(header)
  }
  return await new Promise<Whoami>((resolve, reject) => {
    const socket = tlsConnect({ socket: transport, ca, servername: 'localhost' }, () => {
      socket.write('GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    })
    let text = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('timed out')) }, 5000)
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => { text += c })
    socket.on('error', reject)
    // The server closes after answering (Connection: close); the raw TCP socket is what closes for sure
    // (a TLSSocket over a JS stream does not always see the close through the Duplex).
    raw.once('close', () => {
      // Decrypted data can trail the TCP close by a tick.
      setImmediate(() => {
        clearTimeout(timer)
        socket.destroy()
        try {
          resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Whoami)
        } catch (err) {
          reject(err)
        }
      })
    })
  })
}

test('R43 R36 an oversized request head over TLS gets 431 like over plain TCP', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: cluster.port, ca, servername: 'localhost' }, () => {
      socket.write(`GET /ws HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    })
    let text = ''
    socket.setEncoding('utf8')
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('no answer')) })
    socket.on('data', (c: string) => { text += c })
    socket.on('error', () => {})
    socket.once('close', () => resolve(text))
  })
  assert.match(answer, /^HTTP\/1\.1 431 /)
})

test('R43 R32 PROXY header before the TLS handshake: the source becomes the client address', async () => {
  const seen = await proxiedTlsWhoami('203.0.113.77', false)
  assert.equal(seen.client, '203.0.113.77')
  assert.equal(seen.encrypted, true)
})

test('R43 R32 PROXY header and ClientHello in one write: the handshake bytes the primary read reach the worker', async () => {
  const seen = await proxiedTlsWhoami('203.0.113.78', true)
  assert.equal(seen.client, '203.0.113.78')
  assert.equal(seen.encrypted, true)
})

test('R43 R40 reload picks up a new certificate without a restart', async () => {
  makeCert(dir.dir, 'second', 'rotated.example')
  writeFileSync(join(dir.dir, 'ws-cluster.config.json'), JSON.stringify({
    ...base, listen: { port: 0, host: '127.0.0.1', tls: { cert: 'second-cert.pem', key: 'second-key.pem' } }
  }))
  const reload = await runCli(['reload'], dir.dir)
  assert.equal(reload.code, 0, reload.stderr)
  const secondCa = readFileSync(join(dir.dir, 'second-cert.pem'))
  const subject = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: cluster.port, ca: secondCa, servername: 'localhost' }, () => {
      const name = socket.getPeerCertificate().subject.CN
      socket.end()
      resolve(String(name))
    })
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')))
    socket.on('error', reject)
  })
  assert.equal(subject, 'rotated.example')
})
