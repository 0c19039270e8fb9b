#!/usr/bin/env node
/**
 * `npm run demo`: starts the chat backends, `ws-cluster start` in front of
 * them, checks the whole path once, prints the URL, and on Ctrl-C / SIGTERM
 * stops the front first (so pages see one clean close), then the backends,
 * and sweeps every process group so nothing is left running.
 *
 * When started with an IPC channel (the tests do), it also sends
 * `{ type: 'ready', url, adminUrl, cluster: { pid }, backends: [{ name, pid, port }] }`.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { DEMO_HELP, DemoUsageError, parseDemoOptions } from './demo-options.js'
import { planDemo, type DemoPlan } from './demo-plan.js'
import { assertPortsFree } from './free-ports.js'
import { formatPinoLine, probeChatPath, waitForHttp } from './demo-readiness.js'
import { ManagedProcess } from './managed-process.js'

const write = (text: string): void => { process.stdout.write(text) }
const say = (line: string): void => write(`[demo] ${line}\n`)

let plan: DemoPlan | null = null
let cluster: ManagedProcess | null = null
const backends: ManagedProcess[] = []
let stopping = false

async function shutdown (code: number, why: string): Promise<never> {
  if (stopping) {
    say('second signal: killing everything now')
    cluster?.killGroup()
    for (const b of backends) b.killGroup()
    process.exit(1)
  }
  stopping = true
  say(`stopping (${why})`)
  if (cluster !== null) {
    // The cluster drains tunnels for up to shutdownTimeout; give it that and a little more.
    const info = await cluster.stop((plan?.shutdownTimeoutMs ?? 10_000) + 3000)
    say(`ws-cluster exited (${info.signal ?? `code ${info.code}`})`)
  }
  await Promise.all(backends.map(async (b) => { await b.stop(5000) }))
  if (plan?.tempDir != null) await rm(plan.tempDir, { recursive: true, force: true })
  say('all processes stopped')
  process.exit(code)
}

function fail (err: unknown): void {
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`[demo] ${message}\n`)
  shutdown(1, 'start failed').catch(() => process.exit(1))
}

async function main (): Promise<void> {
  let options
  try {
    options = parseDemoOptions(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof DemoUsageError)) throw err
    process.stderr.write(`demo: ${err.message}\n\n${DEMO_HELP}`)
    process.exit(2)
  }
  if (options === null) {
    write(DEMO_HELP)
    return
  }
  if (!existsSync(options.cli)) {
    throw new Error(`the ws-cluster CLI ${options.cli} does not exist; build first (npm run build, or npm ci which builds)`)
  }
  process.on('SIGINT', () => { shutdown(0, 'SIGINT').catch(fail) })
  process.on('SIGTERM', () => { shutdown(0, 'SIGTERM').catch(fail) })
  // Started by a parent over IPC (a test): if that parent goes away, do not linger.
  process.on('disconnect', () => { shutdown(0, 'parent went away').catch(fail) })

  plan = await planDemo(options)
  await assertPortsFree([
    { ...plan.listen, what: 'listen.port' },
    ...(plan.admin === null ? [] : [{ ...plan.admin, what: 'admin.port' }]),
    ...plan.backends.map((b) => ({ host: b.host, port: b.port, what: `${b.name} port` }))
  ])
  const backendScript = fileURLToPath(new URL('./chat-backend.js', import.meta.url))
  // Only the backends of this run know it, so nothing else on the machine can inject into the mesh.
  const peerToken = randomBytes(16).toString('hex')
  const peers = plan.backends.map((b) => b.url).join(',')
  for (const b of plan.backends) {
    backends.push(new ManagedProcess({
      label: b.name,
      args: [backendScript, '--name', b.name, '--host', b.host, '--port', String(b.port), '--peers', peers],
      env: { ...process.env, DEMO_PEER_TOKEN: peerToken, REDIS_URL: options.redisUrl ?? '' },
      ipc: true,
      // The backend prefixes its own lines for standalone use; the runner's prefix already says who.
      formatLine: (line) => line.startsWith(`[${b.name}] `) ? line.slice(b.name.length + 3) : line,
      write
    }))
  }
  await Promise.all(backends.map(async (proc, i) => {
    await waitForHttp(`${(plan as DemoPlan).backends[i]?.url}/health`, proc, 15_000)
  }))
  for (const proc of backends) {
    proc.exited.then(({ code, signal }) => {
      if (!stopping) say(`${proc.label} exited (${signal ?? `code ${code}`}); its pages reconnect through ws-cluster to the others`)
    }).catch(fail)
  }

  cluster = new ManagedProcess({
    label: 'ws-cluster',
    args: [options.cli, 'start', '--config', plan.configPath],
    formatLine: formatPinoLine,
    write
  })
  const front = cluster
  front.exited.then(({ code, signal }) => {
    if (!stopping) fail(new Error(`ws-cluster exited unexpectedly (${signal ?? `code ${code}`})`))
  }).catch(fail)
  const url = `http://${plan.listen.host}:${plan.listen.port}/`
  await waitForHttp(url, front, 30_000)
  const view = await probeChatPath(`ws://${plan.listen.host}:${plan.listen.port}/ws`, 10_000)
  const worker = view.proxyWorker === null ? 'a worker that did not identify itself' : `worker ${view.proxyWorker.id} (pid ${view.proxyWorker.pid})`
  say(`checked: /ws → ws-cluster ${worker} → ${view.backend.name} (pid ${view.backend.pid})`)

  const adminUrl = plan.admin === null ? null : `http://${plan.admin.host}:${plan.admin.port}/status`
  const transport = options.redisUrl === null
    ? 'peer mesh between backends (set REDIS_URL=redis://127.0.0.1:6379 for Redis pub/sub)'
    : `Redis pub/sub at ${options.redisUrl}`
  write('\n' +
    '  ws-cluster chat demo is running\n' +
    `    open     ${url}  (in two browser windows, and chat)\n` +
    (adminUrl === null ? '' : `    status   ${adminUrl}\n`) +
    `    backends ${plan.backends.map((b, i) => `${b.name} :${b.port} pid ${backends[i]?.pid}`).join(', ')}\n` +
    `    messages ${transport}\n` +
    `    config   ${plan.configPath}\n` +
    '  Ctrl-C stops everything.\n\n')
  if (process.send !== undefined) {
    process.send({
      type: 'ready',
      url,
      adminUrl,
      cluster: { pid: front.pid },
      backends: plan.backends.map((b, i) => ({ name: b.name, port: b.port, pid: backends[i]?.pid }))
    })
  }
}

main().catch(fail)
