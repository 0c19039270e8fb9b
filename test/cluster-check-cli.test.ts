import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { checkAppImport } from '../cluster/cli/app-check.js'
import { runCheck } from '../cluster/cli/check-command.js'
import type { CliFlags } from '../cluster/cli/cli-args.js'
import { FIXTURES, MINIMAL, tempDir } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// R38: the file-wide check covers the spawned CLI's pipes too.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

class Capture extends Writable {
  text = ''
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function check (flags: CliFlags, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const stdout = new Capture()
  const stderr = new Capture()
  const code = await runCheck(flags, { cwd, env, stdout, stderr })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

test('check: a good JSON config prints "configuration file <path> is valid" and exits 0', async () => {
  const file = join(FIXTURES, 'good.json')
  assert.deepEqual(await check({ config: 'good.json' }, FIXTURES), { code: 0, stdout: `configuration file ${file} is valid\n`, stderr: '' })
})

test('check: a good .mjs config written with defineConfig is found in the working directory', async () => {
  const dir = join(FIXTURES, 'good-mjs')
  assert.deepEqual(await check({}, dir), { code: 0, stdout: `configuration file ${join(dir, 'ws-cluster.config.mjs')} is valid\n`, stderr: '' })
})

test('check: an unknown key is one line "<file>: <path>: <message>" and exit 1', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.json': { ...MINIMAL, listen: { prot: 8080 } } })
  const file = join(dir, 'ws-cluster.config.json')
  const { code, stdout, stderr } = await check({}, dir)
  assert.equal(code, 1)
  assert.equal(stdout, '')
  assert.equal(stderr,
    `${file}: listen.prot: unknown key; did you mean "port"? known keys: port, host, tls, proxyProtocol, trustedProxies, maxPendingProxyHeaders\n` +
    `configuration file ${file} is invalid: 1 problem\n`)
})

test('check: a route to an undefined upstream names the upstreams that exist', async (t) => {
  const dir = await tempDir(t, {
    'app.json': { upstreams: { chat: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'chat' }, { path: '/ws2', upstream: 'chat2' }] }
  })
  const file = join(dir, 'app.json')
  const { code, stderr } = await check({ config: file }, '/')
  assert.equal(code, 1)
  assert.equal(stderr.split('\n')[0], `${file}: routes[1].upstream: got "chat2"; allowed: the name of a defined upstream group (defined: chat)`)
})

test('check: every problem of a broken file is printed, one per line (bad duration, port, TLS file, workers, key)', async () => {
  const file = join(FIXTURES, 'invalid.json')
  const { code, stdout, stderr } = await check({ config: file }, '/')
  assert.equal(code, 1)
  assert.equal(stdout, '')
  const lines = stderr.trimEnd().split('\n')
  assert.deepEqual(lines, [
    `${file}: upstreams.chat.balanse: unknown key; did you mean "balance"? known keys: balance, hashKey, servers, keepalive, resolveInterval, resolver, tls`,
    `${file}: routes[1].upstream: got "chat2"; allowed: the name of a defined upstream group (defined: chat)`,
    `${file}: routes[1].idleTimeout: got "an hour"; allowed: a non-negative number of milliseconds or a string like "500ms", "60s", "5m", "1h", "7d"`,
    `${file}: listen.port: got 80800; allowed: an integer from 0 to 65535`,
    `${file}: listen.tls.cert: cannot read "${join(FIXTURES, 'tls/missing-cert.pem')}": no such file (ENOENT)`,
    `${file}: workers: got "many"; allowed: "auto" (one per CPU: os.availableParallelism()) or an integer from 1 to 1024`,
    `configuration file ${file} is invalid: 6 problems`
  ])
})

test('check: environment overrides apply on top of the file, flags on top of the environment', async (t) => {
  const dir = await tempDir(t, {
    'ws-cluster.config.json': { ...MINIMAL, listen: { port: 8080 } },
    'broken.json': { ...MINIMAL, listen: { port: -1 } }
  })
  const file = join(dir, 'ws-cluster.config.json')
  const collision = await check({}, dir, { WS_CLUSTER_ADMIN_PORT: '8080' })
  assert.equal(collision.code, 1)
  assert.equal(collision.stderr.split('\n')[0], `${file}: admin.port: 8080 is also listen.port; the admin listener needs its own port (or "admin": false)`)
  assert.equal((await check({}, dir, { WS_CLUSTER_ADMIN_PORT: '9091' })).code, 0)
  // WS_CLUSTER_CONFIG picks the file unless --config is given.
  const viaEnv = await check({}, dir, { WS_CLUSTER_CONFIG: 'broken.json' })
  assert.equal(viaEnv.code, 1)
  assert.match(viaEnv.stderr, /broken\.json: listen\.port: got -1;/)
  assert.equal((await check({ config: 'ws-cluster.config.json' }, dir, { WS_CLUSTER_CONFIG: 'broken.json' })).code, 0)
})

test('check: a bad environment value is reported with the variable name as its path', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.json': MINIMAL })
  const file = join(dir, 'ws-cluster.config.json')
  const { code, stderr } = await check({}, dir, { WS_CLUSTER_PORT: 'http', WS_CLUSTER_SHUTDOWN_TIMEOUT: '10 minutes' })
  assert.equal(code, 1)
  assert.deepEqual(stderr.trimEnd().split('\n'), [
    `${file}: WS_CLUSTER_PORT: got "http"; allowed: an integer from 0 to 65535`,
    `${file}: WS_CLUSTER_SHUTDOWN_TIMEOUT: got "10 minutes"; allowed: a non-negative number of milliseconds or a string like "500ms", "60s", "5m", "1h", "7d"`,
    `configuration file ${file} is invalid: 2 problems`
  ])
})

test('check: without a config file it says where it looked and what to create', async (t) => {
  const dir = await tempDir(t)
  const { code, stdout, stderr } = await check({}, dir)
  assert.equal(code, 1)
  assert.equal(stdout, '')
  assert.ok(stderr.startsWith(`No ws-cluster config file found in ${dir}; looked for ws-cluster.config.json, ws-cluster.config.mjs, ws-cluster.config.js.\n`))
  assert.match(stderr, /"upstreams": \{\n {4}"app": \{ "servers": \["http:\/\/127\.0\.0\.1:PORT"\] \}/)
  assert.match(stderr, /replace PORT with the port of your WebSocket backend/)
})

test('check: a file that is not valid JSON is one line about the file', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.json': '{ "upstreams": ' })
  const file = join(dir, 'ws-cluster.config.json')
  const { code, stderr } = await check({}, dir)
  assert.equal(code, 1)
  assert.match(stderr.split('\n')[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: is not valid JSON: `))
})

test('check: --help prints the check usage with its environment variables and exits 0', async () => {
  const { code, stdout, stderr } = await check({ help: true }, '/')
  assert.equal(code, 0)
  assert.equal(stderr, '')
  assert.match(stdout, /^Usage: ws-cluster check \[--config FILE\]/)
  assert.match(stdout, /--config FILE .*\[env WS_CLUSTER_CONFIG\]/)
  assert.match(stdout, /Exit status: 0 when the configuration is valid, 1 when it is not/)
})

const CLI = resolve(fileURLToPath(import.meta.url), '../../cluster/cli.js')

test('check: `ws-cluster check --config <good>` as a real process exits 0 with the nginx -t style line', { skip: existsSync(CLI) ? false : 'dist/cluster/cli.js is not built: the runtime helper owns cluster/cli.ts' }, async () => {
  const file = join(FIXTURES, 'good.json')
  const child = spawn(process.execPath, [CLI, 'check', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'close') as [number | null]
  assert.equal(stderr, '')
  assert.equal(stdout, `configuration file ${file} is valid\n`)
  assert.equal(code, 0)
})

function selfSigned (dir: string, name: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', join(dir, `${name}-key.pem`), '-out', join(dir, `${name}-cert.pem`), '-days', '1'], { stdio: 'ignore' })
}

test('R62 check loads the TLS pair as start does: a key that does not match its certificate, or a file that is not PEM, is a problem line', async (t) => {
  const dir = await tempDir(t, { 'not-pem.txt': 'hello\n' })
  selfSigned(dir, 'a')
  selfSigned(dir, 'b')
  const write = async (tls: object): Promise<string> => {
    await writeFile(join(dir, 'ws-cluster.config.json'), JSON.stringify({ ...MINIMAL, listen: { tls } }))
    return join(dir, 'ws-cluster.config.json')
  }
  const file = await write({ cert: 'a-cert.pem', key: 'a-key.pem' })
  assert.equal((await check({}, dir)).code, 0, 'a matching pair is valid')
  await write({ cert: 'a-cert.pem', key: 'b-key.pem' })
  const mismatch = await check({}, dir)
  assert.equal(mismatch.code, 1)
  assert.match(mismatch.stderr.split('\n')[0], new RegExp(`^${escape(file)}: listen\\.tls\\.key: "${escape(join(dir, 'b-key.pem'))}" is not the private key of the certificate "${escape(join(dir, 'a-cert.pem'))}": .*key values mismatch`))
  await write({ cert: 'not-pem.txt', key: 'a-cert.pem' })
  const lines = (await check({}, dir)).stderr.split('\n')
  assert.match(lines[0], /: listen\.tls\.cert: ".*not-pem\.txt" is not a PEM certificate: /)
  assert.match(lines[1], /: listen\.tls\.key: ".*a-cert\.pem" is not an unencrypted PEM private key: /)
})

function escape (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

test('R62 check imports the app module as a worker would: a module that throws or exports no function is a problem line', async (t) => {
  const dir = await tempDir(t, {
    'throws.mjs': 'console.log("noise at import")\nthrow new Error("database URL missing")\n',
    'no-function.mjs': 'export default { routes: [] }\n',
    'good.mjs': 'console.log("noise at import")\nsetInterval(() => {}, 1000)\nexport default async function good (app) { app.get("/x", async () => "x") }\n'
  })
  const file = join(dir, 'ws-cluster.config.json')
  for (const [app, expected] of [
    ['throws.mjs', /: app: cannot load ".*throws\.mjs": Error: database URL missing$/m],
    ['no-function.mjs', /: app: cannot load ".*no-function\.mjs": TypeError: app .* must export a Fastify plugin function as its default export; got object$/m]
  ] as const) {
    await writeFile(file, JSON.stringify({ ...MINIMAL, app }))
    const result = await check({}, dir)
    assert.equal(result.code, 1, app)
    assert.match(result.stderr, expected)
    assert.ok(result.stderr.startsWith(`${file}: app: `), result.stderr)
  }
  await writeFile(file, JSON.stringify({ ...MINIMAL, app: 'good.mjs' }))
  assert.deepEqual(await check({}, dir), { code: 0, stdout: `configuration file ${file} is valid\n`, stderr: '' }, 'a timer left by the module does not hold check')
})

test('R62 an app module that never finishes importing cannot hang check: it is killed after the time limit and reported', async (t) => {
  const dir = await tempDir(t, { 'hangs.mjs': 'while (true) {}\n' })
  const started = Date.now()
  const problem = await checkAppImport(join(dir, 'hangs.mjs'), 1000)
  const took = Date.now() - started
  assert.equal(problem?.path, 'app')
  assert.match(problem?.message ?? '', /did not finish within 1 s/)
  assert.ok(took >= 1000 && took < 10_000, `took ${took} ms`)
})
