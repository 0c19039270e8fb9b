import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { runInNewContext } from 'node:vm'
import { WebSocket, type ClientOptions } from 'ws'
import { parseCliArgs } from '../cluster/cli/cli-args.js'
import { runCheck } from '../cluster/cli/check-command.js'
import { formatReload } from '../cluster/cli/reload-format.js'
import { helpText } from '../cluster/cli/cli-help.js'
import { fromNginxHelp, parseFromNginxArgs } from '../cluster/from-nginx/from-nginx-args.js'
import { parseNginx } from '../cluster/from-nginx/nginx-parser.js'
import { resolveOptions } from '../plugin/index.js'
import { closeEchoBackends, startNamedEchoBackends, type EchoBackend } from './helpers/backends.js'
import { httpGet, startCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { closeWs, echo, openWsWithHeaders, refusal } from './helpers/plugin-harness.js'
import { readReadmeBlocks, type ReadmeBlock } from './helpers/readme-blocks.js'
import { onceWithin } from './helpers/timing.js'

// R94: every example in README.md runs, so the README cannot drift from the
// code. A block's info string says what it is; a block nobody checks fails
// the first test.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string, version: string, scripts: Record<string, string> }
const blocks = readReadmeBlocks()
const baseline = openFdCount()
// Examples import 'ws-cluster' and Fastify packages: they run from a folder inside the package, as in a project that installed it.
mkdirSync(join(ROOT, 'test', 'artifacts'), { recursive: true })
const work = mkdtempSync(join(ROOT, 'test', 'artifacts', 'readme-'))
after(async () => {
  rmSync(work, { recursive: true, force: true })
  await assertNoFdLeak(baseline)
})

/** The section whose examples another test runs: from-nginx-cli.test.ts translates its nginx block and compares the config and the notes. */
const FROM_NGINX_SECTION = 'Coming from nginx'
const KINDS = ['js cjs', 'js plugin', 'js app', 'js route', 'js options', 'js relay-hook', 'json config', 'json config-part', 'json output', 'jsonc demo-config', 'text usage', 'text reload-output', 'sh', 'nginx']

function kindOf (block: ReadmeBlock): string {
  return block.role === null ? block.lang : `${block.lang} ${block.role}`
}

function only (kind: string): ReadmeBlock[] {
  return blocks.filter(b => b.section !== FROM_NGINX_SECTION && kindOf(b) === kind)
}

test('R94 every README code block is of a kind a test checks (or is in the from-nginx section, checked by from-nginx-cli.test.ts)', () => {
  const unchecked = blocks.filter(b => b.section !== FROM_NGINX_SECTION && !KINDS.includes(kindOf(b))).map(b => `README.md:${b.line} \`\`\`${kindOf(b)}`)
  assert.deepEqual(unchecked, [])
  assert.match(readFileSync(join(ROOT, 'test', 'from-nginx-cli.test.ts'), 'utf8'), new RegExp(`## ${FROM_NGINX_SECTION}`))
  for (const kind of KINDS) assert.ok(only(kind).length > 0, `some block is ${kind}`)
})

test('R94 README config blocks pass `ws-cluster check`; the demo config shown part by part is the demo\'s config file', async () => {
  for (const block of only('json config')) {
    const dir = mkdtempSync(join(work, 'config-'))
    const config = JSON.parse(block.text) as { app?: string }
    // The file names the config refers to exist in a real project; here they are placeholders.
    if (config.app !== undefined) writeFileSync(join(dir, config.app), 'export default async function app () {}\n')
    writeFileSync(join(dir, 'ws-cluster.config.json'), block.text)
    let out = ''
    const sink = { write: (text: string) => { out += text; return true } } as unknown as NodeJS.WritableStream
    const code = await runCheck({}, { cwd: dir, env: {}, stdout: sink, stderr: sink })
    assert.equal(code, 0, `README.md:${block.line}: ${out}`)
  }
  const demo = JSON.parse(readFileSync(join(ROOT, 'demo', 'ws-cluster.config.json'), 'utf8')) as Record<string, unknown>
  const shown: Record<string, unknown> = {}
  for (const block of only('jsonc demo-config')) Object.assign(shown, JSON.parse(`{${block.text.trim().replace(/,$/, '')}}`))
  assert.deepEqual(shown, demo, 'the parts shown are the whole demo config, as it is')
  for (const block of only('nginx')) assert.ok(parseNginx(block.text).length > 0, `README.md:${block.line} parses as nginx`)
})

test('R94 README option fragments (a route, a part of the options) pass the plugin\'s validator', () => {
  const upstreams = { chat: { servers: ['http://127.0.0.1:9001'] } }
  // The fragments are JavaScript object literals, comments included: evaluated as the reader's code would be.
  // Re-made in this realm: objects of another vm context have another Object.prototype.
  const evaluate = (text: string): Record<string, unknown> => JSON.parse(JSON.stringify(runInNewContext(`(${text})`))) as Record<string, unknown>
  for (const block of only('js route')) {
    assert.doesNotThrow(() => resolveOptions({ upstreams, routes: [evaluate(block.text)] }), `README.md:${block.line}`)
  }
  for (const block of only('js options')) {
    const part = evaluate(`{ ${block.text} }`)
    const upstreamName = Object.keys((part.upstreams ?? upstreams) as object)[0]
    assert.doesNotThrow(() => resolveOptions({ upstreams, routes: [{ path: '/ws', upstream: upstreamName }], ...part }), `README.md:${block.line}`)
  }
})

test('R94 the relay hook module and the config part that names it pass `ws-cluster check` together, and the hook does what its comments say', async () => {
  const [hook] = only('js relay-hook')
  const [part] = only('json config-part')
  const dir = mkdtempSync(join(work, 'relay-'))
  const hookFile = /^\/\/ (\S+\.mjs)/.exec(hook.text)?.[1] ?? 'hook.mjs'
  mkdirSync(join(dir, dirname(hookFile)), { recursive: true })
  writeFileSync(join(dir, hookFile), hook.text)
  const config = { upstreams: { chat: { servers: ['http://127.0.0.1:9001'] } }, ...JSON.parse(`{${part.text}}`) as object }
  writeFileSync(join(dir, 'ws-cluster.config.json'), JSON.stringify(config))
  let out = ''
  const sink = { write: (text: string) => { out += text; return true } } as unknown as NodeJS.WritableStream
  assert.equal(await runCheck({}, { cwd: dir, env: {}, stdout: sink, stderr: sink }), 0, `README.md:${part.line}: ${out}`)
  const { onMessage } = await import(pathToFileURL(join(dir, hookFile)).href) as { onMessage: (m: unknown) => unknown }
  const connection = { headers: { 'x-user': 'ada' } }
  const message = (direction: string, data: string, isBinary = false): unknown => onMessage({ direction, data: Buffer.from(data), isBinary, connection })
  assert.equal(message('fromUpstream', 'anything'), undefined)
  assert.deepEqual(message('fromClient', 'x', true), { action: 'close', code: 1003, reason: 'text only' })
  assert.deepEqual(message('fromClient', '{"text":1}'), { action: 'drop' })
  assert.deepEqual(message('fromClient', '{"text":"hi"}'), { action: 'replace', data: '{"text":"hi","user":"ada"}' })
})

const COMMANDS = ['start', 'check', 'reload', 'stop', 'status'] as const

/** Checks one usage line (`ws-cluster CMD [--flag VALUE]…`) against the command list and that command's --help. */
function checkUsageLine (words: string[], where: string): void {
  assert.equal(words[0], 'ws-cluster', where)
  const flags = words.filter(w => w.startsWith('-'))
  if (words[1] === 'from-nginx') {
    for (const flag of flags) assert.ok(fromNginxHelp().includes(flag), `${where}: ${flag} is in from-nginx --help`)
    return
  }
  const command = COMMANDS.find(c => c === words[1]) ?? null
  assert.ok(command !== null || words[1].startsWith('-'), `${where}: ${words[1]} is a command`)
  const help = helpText(command)
  for (const flag of flags) assert.ok(help.includes(flag), `${where}: ${flag} is in ${command ?? 'the overview'} --help`)
}

test('R94 R99 the reload answers the README shows are what `ws-cluster reload` prints for such outcomes', () => {
  const [inPlace, replaced] = only('text reload-output').map(block => block.text)
  assert.equal(formatReload({ ok: true, kind: 'in-place', updated: 4, changes: [{ path: 'upstreams.chat.servers', change: 'removed http://10.0.0.12:3000' }], closing: 37 }), inPlace)
  assert.equal(formatReload({ ok: true, kind: 'replaced', replaced: 4, drainTimeout: 4 * 3_600_000, reasons: ['app: /srv/app/my-fastify-plugin.js changed'] }), replaced)
})

test('R94 every command the README shows exists: ws-cluster commands and flags in --help, npm scripts in package.json, the tarball name', () => {
  for (const block of only('text usage')) {
    for (const [i, line] of block.text.trim().split('\n').entries()) {
      checkUsageLine(line.replace(/\s+#.*$/, '').replace(/\[|\]/g, ' ').trim().split(/\s+/), `README.md:${block.line + 1 + i}`)
    }
  }
  const ignored = new Set(['cd', 'apt-get', 'redis-server', 'git', 'docker', 'kubectl', 'curl'])
  for (const block of only('sh')) {
    for (const [i, line] of block.text.trim().split('\n').entries()) {
      const where = `README.md:${block.line + 1 + i}`
      const [commandText, comment = ''] = line.split(/\s+#\s*/)
      for (const part of commandText.split('&&').map(p => p.trim()).filter(Boolean)) {
        const words = part.split(/\s+/).filter(w => !/^[A-Z_]+=/.test(w))
        if (ignored.has(words[0])) continue
        if (words[0] === 'npx' && words[1] === pkg.name) {
          if (words[2] === 'from-nginx') assert.ok(parseFromNginxArgs(words.slice(3)).ok, where)
          else assert.doesNotThrow(() => parseCliArgs(words.slice(2)), where)
          if (words[2] === '--version') assert.equal(comment.trim(), pkg.version, `${where}: the version shown`)
          continue
        }
        assert.equal(words[0], 'npm', `${where}: a command this test knows (${part})`)
        if (words[1] === 'run') assert.ok(pkg.scripts[words[2]] !== undefined, `${where}: npm run ${words[2]} is a script`)
        else if (words[1] === 'test') assert.ok(pkg.scripts.test !== undefined)
        else if (words[1] === 'install') assert.equal(basename(words[2]), `${pkg.name}-${pkg.version}.tgz`, `${where}: what npm pack writes`)
        else assert.ok(['ci', 'pack'].includes(words[1]), `${where}: npm ${words[1]}`)
      }
    }
  }
})

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await onceWithin(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

async function waitForPort (port: number, child: { exitCode: number | null }, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' })
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the example did not listen on ${port}: ${output()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * Runs an example as a file of its own (as a reader would save it), with the
 * backends the test started in place of the addresses it names, on a free
 * port in place of 8080. Resolves with the port, the output so far, and a stop.
 */
async function runExample (block: ReadmeBlock, fileName: string, backends: EchoBackend[]): Promise<{ port: number, output: () => string, stop: () => Promise<void> }> {
  const port = await freePort()
  let text = block.text.replace(/port: 8080/g, `port: ${port}`)
  backends.forEach((backend, i) => { text = text.replaceAll(`http://127.0.0.1:${9001 + i}`, backend.url) })
  const file = join(work, fileName)
  writeFileSync(file, text)
  const child = spawn(process.execPath, [file], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const exited = once(child, 'close')
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  try {
    await waitForPort(port, child, () => output)
  } catch (err) {
    await stop()
    throw err
  }
  return { port, output: () => output, stop }
}

test('R94 the plugin example proxies real WebSockets: a token from a cookie, the query, a subprotocol or a Bearer header passes, none gets 401; its access-log line is the one shown', async () => {
  const [block] = only('js plugin')
  const backends = await startNamedEchoBackends('A', 'B', 'C')
  const example = await runExample(block, 'plugin-example.mjs', backends)
  try {
    const url = `ws://127.0.0.1:${example.port}/ws`
    assert.equal((await refusal(url)).status, 401)
    assert.equal((await refusal(`${url}?token=wrong`, { headers: { cookie: 'session=wrong' } })).status, 401)
    const ways: Array<{ url: string, options?: ClientOptions, protocols?: string[] }> = [
      { url: `${url}?token=secret` },
      { url, options: { headers: { cookie: 'theme=dark; session=secret' } } },
      { url, options: { headers: { authorization: 'Bearer secret' } } },
      { url, protocols: ['chat', 'token.secret'] }
    ]
    for (const way of ways) {
      const ws = way.protocols === undefined ? (await openWsWithHeaders(way.url, way.options)).ws : await openWithProtocols(way.url, way.protocols)
      if (way.protocols !== undefined) assert.equal(ws.protocol, 'chat', 'the upstream picked the real subprotocol')
      assert.equal(await echo(ws, 'hello'), 'hello')
      await closeWs(ws)
    }
    // `http: true`: the route's plain requests reach a backend too.
    const plain = await httpGet(example.port, '/ws?token=secret')
    assert.equal(plain.status, 200)
    assert.ok(['A', 'B'].includes(String(plain.headers['x-backend'])), 'the backup server is not used while the others are up')

    const shown = JSON.parse(only('json output')[0].text) as Record<string, unknown>
    const deadline = Date.now() + 5000
    let logged: Record<string, unknown> | undefined
    while (logged === undefined && Date.now() < deadline) {
      logged = example.output().split('\n').map(jsonLine).find(l => l?.msg === shown.msg)
      if (logged === undefined) await new Promise(resolve => setTimeout(resolve, 50))
    }
    assert.ok(logged !== undefined, `a "${String(shown.msg)}" line: ${example.output()}`)
    const extra = Object.keys(logged).filter(k => !(k in shown))
    assert.deepEqual(Object.keys(shown).filter(k => !(k in logged)), [], 'every field shown is logged')
    assert.deepEqual(extra.filter(k => !['level', 'time', 'pid', 'hostname', 'error'].includes(k)), [], 'and nothing else but pino\'s own')
  } finally {
    await example.stop()
    await closeEchoBackends(backends)
  }
})

/** A pino line as an object; other output (the example's console.log of stats) as undefined. */
function jsonLine (line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

async function openWithProtocols (url: string, protocols: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return ws
}

test('R94 the CommonJS example loads the ESM package with import() and proxies a WebSocket', async () => {
  const [block] = only('js cjs')
  const backends = await startNamedEchoBackends('A')
  const example = await runExample(block, 'server.cjs', backends)
  try {
    const { ws, headers } = await openWsWithHeaders(`ws://127.0.0.1:${example.port}/ws`)
    assert.equal(headers['x-backend'], 'A')
    assert.equal(await echo(ws, 'from commonjs'), 'from commonjs')
    await closeWs(ws)
  } finally {
    await example.stop()
    await closeEchoBackends(backends)
  }
})

test('R94 the app example runs in a real cluster: its route and static page are served, its fastify-plugin hook guards the proxied /ws', async () => {
  const [block] = only('js app')
  const backends = await startNamedEchoBackends('A')
  const dir = mkdtempSync(join(work, 'app-'))
  writeFileSync(join(dir, 'my-app.mjs'), block.text)
  mkdirSync(join(dir, 'public'))
  writeFileSync(join(dir, 'public', 'index.html'), '<!doctype html><title>readme</title><p>served by the app example</p>\n')
  const cluster = await startCluster(dir, {
    listen: { port: 0, host: '127.0.0.1' },
    admin: { port: 0, host: '127.0.0.1' },
    workers: 1,
    shutdownTimeout: '1s',
    upstreams: { chat: { servers: [backends[0].url] } },
    routes: [{ path: '/ws', upstream: 'chat' }],
    app: './my-app.mjs'
  }, [], { CHAT_TOKEN: 'secret' })
  try {
    const health = await httpGet(cluster.port, '/healthz')
    assert.equal(health.status, 200)
    assert.equal((JSON.parse(health.body) as { ok: boolean }).ok, true)
    const page = await httpGet(cluster.port, '/')
    assert.equal(page.status, 200)
    assert.match(page.body, /served by the app example/)
    assert.equal((await refusal(`ws://127.0.0.1:${cluster.port}/ws`)).status, 401)
    const { ws } = await openWsWithHeaders(`ws://127.0.0.1:${cluster.port}/ws?token=secret`)
    assert.equal(await echo(ws, 'through the app'), 'through the app')
    await closeWs(ws)
    const metrics = await httpGet(cluster.adminPort as number, '/metrics')
    assert.match(metrics.body, /^ws_cluster_route_upgrades_refused_by_hooks_total\{route="\/ws"\} 1$/m)
  } finally {
    await cluster.kill()
    await closeEchoBackends(backends)
  }
})
