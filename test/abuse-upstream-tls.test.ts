import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { resolveOptions, type UpstreamOptions } from '../plugin/index.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, httpGet, openWs, refusal, startProxy } from './helpers/plugin-harness.js'
import { createTestCa } from './helpers/test-ca.js'
import { startTlsEchoBackend, type TlsEchoBackend } from './helpers/tls-backend.js'

// Edge hardening, failure 10: upstream TLS was never verified
// (`rejectUnauthorized: false` hard-coded), so anyone on the path to an
// https:// upstream could stand in for it. Certificates and names are now
// verified by default, with a CA, a servername and an explicit opt-out per group.

const ca = createTestCa(['localhost', 'backend.test', '127.0.0.1'])
after(() => { ca.remove() })

interface Setup { backend: TlsEchoBackend, proxy: Awaited<ReturnType<typeof startProxy>> }

async function withTlsUpstream (group: Omit<UpstreamOptions, 'servers'>, run: (setup: Setup) => Promise<void>, selfSigned = false): Promise<void> {
  const baseline = openFdCount()
  const backend = await startTlsEchoBackend(selfSigned ? { cert: ca.selfSignedCert, key: ca.selfSignedKey } : { cert: ca.cert, key: ca.key })
  const proxy = await startProxy({
    upstreams: { secure: { ...group, servers: [backend.url] } },
    routes: [{ path: '/ws', upstream: 'secure', http: true }]
  })
  try {
    await run({ backend, proxy })
  } finally {
    await proxy.close()
    await backend.close()
  }
  await assertNoFdLeak(baseline)
}

test('R84 an https upstream whose certificate no trusted CA signed gets 502 WS_CLUSTER_UPSTREAM_TLS_FAILED, the reason logged, one server failure', async () => {
  await withTlsUpstream({}, async ({ backend, proxy }) => {
    const refused = await refusal(`${proxy.wsBase}/ws`)
    assert.equal(refused.status, 502)
    assert.equal(JSON.parse(refused.body).code, 'WS_CLUSTER_UPSTREAM_TLS_FAILED')
    assert.ok(!refused.body.includes(String(backend.port)), 'no upstream address in the body')
    assert.equal(backend.upgrades.length, 0, 'nothing was sent to the unverified server')
    const failure = proxy.logs.find(line => line.msg === 'upstream attempt failed')
    const err = failure?.err as { code?: string, message?: string } | undefined
    assert.equal(err?.code, 'WS_CLUSTER_UPSTREAM_TLS_FAILED')
    assert.match(String(err?.message), /UNABLE_TO_VERIFY_LEAF_SIGNATURE/, 'the log names the reason')
    assert.equal(proxy.app.wsProxy.stats().upstreams.secure.servers[0].failures, 1, 'counted against the server')
  })
})

test('R84 with the group CA given as a file the upgrade is verified and tunnelled; SNI is the configured servername', async () => {
  await withTlsUpstream({ tls: { ca: ca.caFile, servername: 'backend.test' } }, async ({ backend, proxy }) => {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'verified'), 'verified')
    await closeWs(ws)
    assert.deepEqual(backend.servernames, ['backend.test'])
  })
})

test('R84 with the CA as PEM text and an IP server, the certificate is checked for the IP and no SNI is sent', async () => {
  await withTlsUpstream({ tls: { ca: ca.caPem } }, async ({ backend, proxy }) => {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'by ip'), 'by ip')
    await closeWs(ws)
    assert.deepEqual(backend.servernames, [null])
  })
})

test('R84 a trusted certificate for another name is refused with 502 and the name mismatch is logged', async () => {
  await withTlsUpstream({ tls: { ca: ca.caPem, servername: 'other.test' } }, async ({ backend, proxy }) => {
    assert.equal((await refusal(`${proxy.wsBase}/ws`)).status, 502)
    assert.equal(backend.upgrades.length, 0)
    const err = proxy.logs.find(line => line.msg === 'upstream attempt failed')?.err as { message?: string } | undefined
    assert.match(String(err?.message), /ERR_TLS_CERT_ALTNAME_INVALID/)
  })
})

test('R84 rejectUnauthorized: false accepts a self-signed certificate, and a warning at start says verification is off', async () => {
  await withTlsUpstream({ tls: { rejectUnauthorized: false } }, async ({ proxy }) => {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    assert.equal(await echo(ws, 'unverified'), 'unverified')
    await closeWs(ws)
    const warning = proxy.logs.find(line => line.level === 40 && String(line.msg).includes('not verified'))
    assert.equal(warning?.upstream, 'secure')
  }, true)
})

test('R84 plain-HTTP passthrough verifies the same way: 502 without the CA, 200 with it, SNI from the group and not from the client Host', async () => {
  await withTlsUpstream({}, async ({ backend, proxy }) => {
    const res = await httpGet(`${proxy.httpBase}/ws`, { headers: { host: 'client.example' } })
    assert.equal(res.status, 502)
    assert.equal(JSON.parse(res.body).code, 'WS_CLUSTER_UPSTREAM_TLS_FAILED')
    assert.equal(backend.requests.length, 0)
    assert.equal(proxy.app.wsProxy.stats().upstreams.secure.servers[0].failures, 1)
  })
  await withTlsUpstream({ tls: { ca: ca.caFile, servername: 'backend.test' } }, async ({ backend, proxy }) => {
    const res = await httpGet(`${proxy.httpBase}/ws`, { headers: { host: 'client.example' } })
    assert.equal(res.status, 200)
    assert.deepEqual(backend.servernames, ['backend.test'])
  })
})

test('R84 tls options are validated: the option path, the bad value and what is allowed', () => {
  const notPem = join(ca.dir, 'not-a-cert.txt')
  writeFileSync(notPem, 'hello')
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ca: join(ca.dir, 'missing.pem') }, 'upstreams.g.tls.ca', /cannot read the file \(ENOENT\)/],
    [{ ca: notPem }, 'upstreams.g.tls.ca', /no PEM certificate in it/],
    [{ ca: [ca.caPem, 42] }, 'upstreams.g.tls.ca[1]', /not a non-empty string/],
    [{ ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, 'upstreams.g.tls.ca', /does not parse/],
    [{ servername: '10.0.0.1' }, 'upstreams.g.tls.servername', /SNI cannot carry an IP address/],
    [{ rejectUnauthorised: false }, 'upstreams.g.tls.rejectUnauthorised', /did you mean "rejectUnauthorized"/],
    [{ rejectUnauthorized: 'no' }, 'upstreams.g.tls.rejectUnauthorized', /got "no"; allowed: true or false/]
  ]
  for (const [tls, path, message] of cases) {
    assert.throws(() => resolveOptions({ upstreams: { g: { servers: ['https://127.0.0.1:9443'], tls } }, routes: [{ path: '/ws', upstream: 'g' }] }),
      (err: Error & { problems: Array<{ path: string, message: string }> }) => {
        assert.equal(err.problems[0].path, path)
        assert.match(err.problems[0].message, message)
        return true
      })
  }
  assert.throws(() => resolveOptions({ upstreams: { g: { servers: ['http://127.0.0.1:9001'], tls: { ca: ca.caPem } } }, routes: [{ path: '/ws', upstream: 'g' }] }),
    /upstreams\.g\.tls: .*allowed: tls only with at least one https:\/\/ server/)
  const resolved = resolveOptions({ upstreams: { g: { servers: ['https://127.0.0.1:9443'], tls: { ca: [ca.caFile, ca.caPem] } } }, routes: [{ path: '/ws', upstream: 'g' }] })
  assert.equal(resolved.upstreams.get('g')?.tls.ca?.length, 2, 'a file and PEM text, one certificate each')
})
