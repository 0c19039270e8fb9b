import { spawn } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { WebSocket } from 'ws'
import { machineInfo } from './machine-info.js'
import { startBackend } from './paths.js'
import { freePort, spawnUntilUpgrade, stopProcess } from './process-control.js'

/**
 * `npm run bench:deploy [-- --quick] [--tunnels N] [--workers N] [--out DIR]`:
 * the "deploy under load" workload. N WebSockets through `ws-cluster start`
 * exchange numbered messages while a stream of new connections comes in;
 * then a reload in place (a route timeout changes) and a reload that
 * replaces the workers (the app file changes). Reported: disconnects (target
 * 0), messages lost or out of order, new connections that failed, and how
 * long each reload took. It measures behaviour, not speed, so it runs on its
 * own rather than in the side-by-side matrix.
 */

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tunnels: { type: 'string' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help === true) {
  console.log('usage: npm run bench:deploy -- [--quick] [--tunnels N] [--workers N] [--out DIR]')
  process.exit(0)
}
const quick = values.quick === true
const tunnelCount = Number(values.tunnels ?? (quick ? 100 : 1000))
const workers = Number(values.workers)
if (!Number.isInteger(tunnelCount) || tunnelCount < 1 || !Number.isInteger(workers) || workers < 1) {
  console.error(`--tunnels and --workers: got ${String(values.tunnels)} and ${String(values.workers)}; allowed: whole numbers ≥ 1`)
  process.exit(2)
}
/** Each tunnel sends one message this often; phases last this long (warm-up, after the reload in place, after the replacing one). */
const SEND_EVERY_MS = quick ? 100 : 200
const PHASE_MS = quick ? [1000, 2000, 4000] : [5000, 10_000, 15_000]

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url))

interface Tunnel { ws: WebSocket, sent: number, next: number, lost: number, reordered: number, closed: number | null }

function openTunnel (url: string): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const tunnel: Tunnel = { ws, sent: 0, next: 0, lost: 0, reordered: 0, closed: null }
    ws.once('open', () => resolve(tunnel))
    ws.once('error', reject)
    ws.on('message', (data) => {
      const seq = Number(String(data))
      if (seq > tunnel.next) tunnel.lost += seq - tunnel.next
      if (seq < tunnel.next) tunnel.reordered++
      tunnel.next = Math.max(tunnel.next, seq + 1)
    })
    ws.once('close', (code) => { tunnel.closed = code })
  })
}

async function runCli (args: string[]): Promise<{ code: number | null, stdout: string, ms: number }> {
  const started = performance.now()
  const child = spawn(process.execPath, [here('../cluster/cli.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stdout, ms: performance.now() - started }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const backend = await startBackend()
const dir = mkdtempSync(join(tmpdir(), 'wsc-bench-deploy-'))
const appFile = join(dir, 'deploy-app.mjs')
writeFileSync(appFile, 'export default async function app () {}\n')
const port = await freePort()
const configFile = join(dir, 'ws-cluster.config.json')
const config = {
  upstreams: { echo: { servers: [`http://127.0.0.1:${backend.port}`] } },
  routes: [{ path: '/', upstream: 'echo' }],
  listen: { port, host: '127.0.0.1' },
  admin: false,
  workers,
  shutdownTimeout: '5s',
  drainTimeout: '1h',
  closeSpread: '10s',
  log: { level: 'warn' },
  app: appFile
}
writeFileSync(configFile, JSON.stringify(config, null, 2))
const cluster = await spawnUntilUpgrade(process.execPath, [here('../cluster/cli.js'), 'start', '--config', configFile], port)
const url = `ws://127.0.0.1:${port}/`
const tunnels: Tunnel[] = []
const reloads: Array<{ kind: string, code: number | null, ms: number, summary: string }> = []
const fresh = { ok: 0, failed: 0, on: true }
try {
  for (let i = 0; i < tunnelCount; i += 100) {
    tunnels.push(...await Promise.all(Array.from({ length: Math.min(100, tunnelCount - i) }, async () => await openTunnel(url))))
  }
  const sender = setInterval(() => {
    for (const t of tunnels) if (t.ws.readyState === WebSocket.OPEN) t.ws.send(String(t.sent++))
  }, SEND_EVERY_MS)
  const newcomers = (async () => {
    while (fresh.on) {
      try {
        const t = await openTunnel(url)
        t.ws.close(1000)
        fresh.ok++
      } catch {
        fresh.failed++
      }
      await sleep(50)
    }
  })()
  await sleep(PHASE_MS[0] as number)
  writeFileSync(configFile, JSON.stringify({ ...config, routes: [{ path: '/', upstream: 'echo', idleTimeout: '2h' }] }, null, 2))
  const inPlace = await runCli(['reload', '--config', configFile])
  reloads.push({ kind: 'in place (a route timeout changed)', code: inPlace.code, ms: inPlace.ms, summary: inPlace.stdout.split('\n')[0] ?? '' })
  await sleep(PHASE_MS[1] as number)
  appendFileSync(appFile, '// a new version\n')
  const replacing = await runCli(['reload', '--config', configFile])
  reloads.push({ kind: 'replacing workers (the app changed)', code: replacing.code, ms: replacing.ms, summary: replacing.stdout.split('\n')[0] ?? '' })
  await sleep(PHASE_MS[2] as number)
  clearInterval(sender)
  fresh.on = false
  await newcomers
  // Echoes still on their way count as delivered once they arrive.
  await sleep(1000)
} finally {
  fresh.on = false
  const sum = (pick: (t: Tunnel) => number): number => tunnels.reduce((total, t) => total + pick(t), 0)
  const result = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    mode: quick ? 'quick' : 'full',
    tunnels: tunnels.length,
    workers,
    sendEveryMs: SEND_EVERY_MS,
    phasesMs: PHASE_MS,
    reloads,
    disconnects: tunnels.filter((t) => t.closed !== null).length,
    messages: { sent: sum((t) => t.sent), echoed: sum((t) => t.next), lost: sum((t) => t.lost + Math.max(0, t.sent - t.next)), reordered: sum((t) => t.reordered) },
    newConnections: { ok: fresh.ok, failed: fresh.failed }
  }
  await Promise.all(tunnels.map(async (t) => {
    if (t.ws.readyState !== WebSocket.OPEN) return
    const closed = new Promise((resolve) => t.ws.once('close', resolve))
    t.ws.close(1000)
    await Promise.race([closed, sleep(3000)])
    t.ws.terminate()
  }))
  await stopProcess(cluster, 'SIGTERM', 15_000)
  await backend.stop()
  rmSync(dir, { recursive: true, force: true })

  const lines = [
    `# Deploy under load — ${result.mode}, ${result.date.slice(0, 16)}`,
    '',
    `${result.tunnels} WebSockets through \`ws-cluster start\` (${workers} workers), one numbered message each every ${SEND_EVERY_MS} ms, ` +
      'and one new connection every 50 ms; a reload in place, then a reload that replaces the workers.',
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| disconnects | ${result.disconnects} | 0 |`,
    `| messages lost / out of order | ${result.messages.lost} / ${result.messages.reordered} of ${result.messages.sent} | 0 / 0 |`,
    `| new connections failed | ${result.newConnections.failed} of ${result.newConnections.ok + result.newConnections.failed} | 0 |`,
    ...reloads.map((r) => `| reload ${r.kind} | exit ${String(r.code)}, ${(r.ms / 1000).toFixed(1)} s: ${r.summary} | |`),
    ''
  ]
  console.log(lines.join('\n'))
  const outDir = values.out ?? here('../../bench/results/')
  mkdirSync(outDir, { recursive: true })
  const base = join(outDir, `${result.date.slice(0, 16).replace(/:/g, '')}-deploy-${result.mode}`)
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n')
  writeFileSync(`${base}.md`, lines.join('\n'))
  console.log(`written to ${base}.json and .md`)
}
