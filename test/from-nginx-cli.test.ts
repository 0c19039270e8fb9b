import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runFromNginx } from '../cluster/from-nginx/from-nginx-command.js'
import { runCli } from './helpers/cluster-process.js'
import { tempDir } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { NGINX_FIXTURES } from './helpers/nginx-fixtures.js'

/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is part of some inputs */

// R38: the file-wide check covers the spawned CLI's pipes too.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

const SEED_002 = join(NGINX_FIXTURES, 'seed-002-map-upstream-server.conf')
/** Inside the package, so a written .mjs can import 'ws-cluster/config' by the package's own name. */
const ARTIFACTS = resolve(fileURLToPath(import.meta.url), '../../../test/artifacts')

class Capture extends Writable {
  text = ''
  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function fromNginx (args: string[], cwd: string): Promise<{ code: number, stdout: string, stderr: string }> {
  const stdout = new Capture()
  const stderr = new Capture()
  const code = await runFromNginx(args, { cwd, stdout, stderr })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

test('cli: "from-nginx FILE --out x.json" writes a config that "ws-cluster check" accepts, and exits 0', async (t) => {
  const dir = await tempDir(t)
  const result = await runCli(['from-nginx', SEED_002, '--out', 'x.json'], dir)
  assert.equal(result.code, 0, result.stderr)
  assert.equal(result.stdout, '')
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'x.json'), 'utf8')), {
    listen: { port: 20038 },
    upstreams: { wsbackend: { servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'], keepalive: 1000 } },
    routes: [{ path: '/*', upstream: 'wsbackend', idleTimeout: '1h', http: true }]
  })
  assert.ok(result.stderr.includes(`${SEED_002}:24: note: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for — built in`), result.stderr)
  assert.match(result.stderr, /ws-cluster from-nginx: wrote x\.json: 1 upstream group, 1 route; 0 not translated, 0 warnings \(listed above\)\n$/)
  const check = await runCli(['check', '--config', 'x.json'], dir)
  assert.deepEqual([check.code, check.stdout], [0, `configuration file ${join(dir, 'x.json')} is valid\n`])
})

test('cli: a file that is not valid nginx syntax exits 1 naming its line, and writes nothing', async (t) => {
  const dir = await tempDir(t)
  const file = join(NGINX_FIXTURES, 'seed-003a-one-line-verbatim.conf')
  const result = await runCli(['from-nginx', file, '--out', 'x.json'], dir)
  assert.equal(result.code, 1)
  assert.ok(result.stderr.startsWith(`${file}:5:63: error: unexpected end of file: "……" (line 5) has no ";"`), result.stderr)
  assert.match(result.stderr, /is not valid nginx syntax; nothing written\n$/)
  assert.equal(existsSync(join(dir, 'x.json')), false)
})

test('cli: without FILE it exits 2 with the usage; --help and the overview list the command', async (t) => {
  const dir = await tempDir(t)
  const missing = await runCli(['from-nginx', '--out', 'x.json'], dir)
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /^ws-cluster from-nginx: missing FILE: the nginx configuration to translate\n\nUsage: ws-cluster from-nginx FILE \[--out FILE\]/)
  const help = await runCli(['from-nginx', '--help'], dir)
  assert.deepEqual([help.code, help.stderr], [0, ''])
  assert.match(help.stdout, /^Usage: ws-cluster from-nginx FILE/)
  assert.match(help.stdout, /-o, --out FILE +write the config to FILE/)
  const overview = await runCli(['--help'], dir)
  assert.match(overview.stdout, /\n {2}from-nginx +translate an nginx config into a ws-cluster config/)
  assert.equal((await runCli(['help', 'from-nginx'], dir)).stdout, help.stdout)
})

test('cli: --out x.mjs writes a defineConfig module that "ws-cluster check" loads', async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true })
  const dir = mkdtempSync(join(ARTIFACTS, 'from-nginx-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const result = await fromNginx([join(NGINX_FIXTURES, 'seed-004-location-websocket.conf'), '--out', 'ws-cluster.config.mjs'], dir)
  assert.equal(result.code, 0, result.stderr)
  const text = readFileSync(join(dir, 'ws-cluster.config.mjs'), 'utf8')
  assert.match(text, /^\/\/ Translated from .*seed-004-location-websocket\.conf by "ws-cluster from-nginx"/)
  assert.match(text, /import \{ defineConfig \} from 'ws-cluster\/config'\n\nexport default defineConfig\(\{\n {2}upstreams: \{ '127\.0\.0\.1:9001': \{ servers: \['http:\/\/127\.0\.0\.1:9001'\] \} \},/)
  assert.match(text, /\{ path: '\/websocket\/\*', upstream: '127\.0\.0\.1:9001', http: true \}/)
  const check = await runCli(['check'], dir)
  assert.equal(check.code, 0, check.stderr)
})

test('cli: route headers and upstreamPath are written and validated like every other option, and "ws-cluster check" accepts them', async (t) => {
  const dir = await tempDir(t, { 'ws.conf': 'server {\n location /ws/ {\n  proxy_pass http://127.0.0.1:9001/socket/;\n  proxy_set_header Host $host:$server_port;\n  proxy_set_header X-Tenant ${http_x_tenant};\n }\n}\n' })
  const result = await fromNginx(['ws.conf', '-o', 'ws-cluster.config.json'], dir)
  assert.equal(result.code, 0, result.stderr)
  const route = JSON.parse(readFileSync(join(dir, 'ws-cluster.config.json'), 'utf8')).routes[0]
  assert.deepEqual([route.headers, route.upstreamPath], [{ set: { Host: '$host:$server_port', 'X-Tenant': '$http_x_tenant' } }, '/socket/'])
  assert.doesNotMatch(result.stderr, /left out of the validation|does not have yet/)
  const check = await runCli(['check'], dir)
  assert.equal(check.code, 0, check.stderr)
})

test('cli: a translation that is not a valid ws-cluster config exits 1 with the problems and writes nothing', async (t) => {
  const dir = await tempDir(t, { 'static.conf': 'http {\n  server {\n    listen 80;\n    location / { root /srv/www; }\n  }\n}\n' })
  const result = await fromNginx(['static.conf', '--out', 'x.json'], dir)
  assert.equal(result.code, 1)
  assert.match(result.stderr, /^static\.conf: not translated: no server block has a location with proxy_pass/)
  assert.match(result.stderr, /\nstatic\.conf:2: not translated: server \{ \.\.\. \} — this server \(listen 80\) proxies nothing \(it has listen, location\)/)
  assert.match(result.stderr, /\nx\.json: upstreams: got {}; allowed: an object with at least one named upstream group/)
  assert.match(result.stderr, /\nx\.json: routes: got \[\]; allowed: a non-empty array/)
  assert.match(result.stderr, /the translation is not a valid ws-cluster config \(2 problems\); nothing written\n$/)
  assert.equal(existsSync(join(dir, 'x.json')), false)

  // Certificates are checked where the command runs, as `ws-cluster check` would; the hint says what to do.
  writeFileSync(join(dir, 'tls.conf'), 'server {\n listen 443 ssl;\n ssl_certificate /nowhere/cert.pem;\n ssl_certificate_key /nowhere/key.pem;\n location /ws/ { proxy_pass http://127.0.0.1:9001; }\n}\n')
  const tls = await fromNginx(['tls.conf'], dir)
  assert.equal(tls.code, 1)
  assert.match(tls.stderr, /\ntranslated config: listen\.tls\.cert: cannot read "\/nowhere\/cert\.pem": no such file \(ENOENT\)\n/)
  assert.match(tls.stderr, /ws-cluster reads the certificate and key itself, so they must be readable where it runs/)
  assert.equal(tls.stdout, '')
})

test('cli: stdout without --out; an existing --out needs --force; unreadable FILE exits 1', async (t) => {
  const dir = await tempDir(t)
  const printed = await fromNginx([SEED_002, '--format', 'mjs'], dir)
  assert.equal(printed.code, 0)
  assert.match(printed.stdout, /^\/\/ Translated from .*\nimport \{ defineConfig \} from 'ws-cluster\/config'/)
  assert.match(printed.stderr, /printed the config: 1 upstream group, 1 route/)
  writeFileSync(join(dir, 'taken.json'), '{}')
  const refused = await fromNginx([SEED_002, '--out', 'taken.json'], dir)
  assert.deepEqual([refused.code, refused.stderr], [1, 'ws-cluster from-nginx: taken.json exists; pass --force to replace it\n'])
  assert.equal(readFileSync(join(dir, 'taken.json'), 'utf8'), '{}')
  assert.equal((await fromNginx([SEED_002, '--out', 'taken.json', '--force'], dir)).code, 0)
  assert.match(readFileSync(join(dir, 'taken.json'), 'utf8'), /"wsbackend"/)
  const absent = await fromNginx(['nope.conf'], dir)
  assert.deepEqual([absent.code, absent.stderr], [1, 'ws-cluster from-nginx: cannot read nope.conf: no such file (ENOENT)\n'])
})

test('cli: usage errors exit 2 and name the bad argument', async (t) => {
  const dir = await tempDir(t)
  const usage = async (args: string[], pattern: RegExp): Promise<void> => {
    const result = await fromNginx(args, dir)
    assert.equal(result.code, 2, args.join(' '))
    assert.match(result.stderr, pattern)
  }
  await usage(['a.conf', 'b.conf'], /^ws-cluster from-nginx: one FILE only; got "a\.conf", "b\.conf"/)
  await usage(['a.conf', '--format', 'yaml'], /--format: got "yaml"; allowed: json, mjs/)
  await usage(['a.conf', '--out', 'x.yaml'], /--out x\.yaml: the file must end in \.json, \.mjs or \.js/)
  await usage(['a.conf', '--format', 'mjs', '--out', 'x.json'], /--format mjs does not fit --out x\.json/)
  await usage(['a.conf', '--outt', 'x.json'], /Unknown option '--outt'/)
})

test('readme: the "Coming from nginx" example is exactly what the command writes and prints', async (t) => {
  const readme = readFileSync(resolve(fileURLToPath(import.meta.url), '../../../README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Coming from nginx'))
  /** The text of the first code block opened by `fence` after `after`. */
  const block = (fence: string, after = ''): string => {
    const start = section.indexOf(`\n${fence}\n`, section.indexOf(after)) + fence.length + 2
    return section.slice(start, section.indexOf('\n```', start) + 1)
  }
  const dir = await tempDir(t, { 'nginx.conf': block('```nginx') })
  const result = await fromNginx(['nginx.conf', '--out', 'ws-cluster.config.json'], dir)
  assert.equal(result.code, 0, result.stderr)
  assert.equal(readFileSync(join(dir, 'ws-cluster.config.json'), 'utf8'), block('```json'))
  assert.equal(result.stderr, block('```', 'and on stderr'))
})
