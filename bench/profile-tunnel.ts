import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { renderProfile, summarizeProfile } from './cpu-profile-summary.js'
import { PATHS, startBackend } from './paths.js'
import { OPEN_BATCH, runWorkload } from './workload-runner.js'

/**
 * `node dist/bench/profile-tunnel.js [--paths netpipe,wsc-plugin] [--seconds 10] [--connections 50] [--size 64]`:
 * runs the closed loop through Node proxies started under `--cpu-prof` and
 * writes bench/results/profile-<date>.md with their self-time tables, so the
 * tunnel can be compared function by function with the bare net pipe.
 *
 * `--handshakes N` profiles connection setup instead: N WebSocket upgrades in
 * batches (the W4 workload: opened, one echo each, closed), so what a
 * reconnect storm costs is read the same way. Cluster paths write one profile
 * per process (primary and each worker); each gets its own table.
 */

const NODE_PATHS = ['netpipe', 'wsc-plugin', 'wsc-plugin-untracked', 'http-proxy', 'fastify-http-proxy', 'wsc-cluster-1', 'wsc-cluster-auto']

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: 'netpipe,wsc-plugin' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    size: { type: 'string', default: '64' },
    handshakes: { type: 'string' },
    keep: { type: 'boolean', default: false }
  }
})
const ids = (values.paths ?? '').split(',').filter((s) => s !== '')
const unknown = ids.filter((id) => !NODE_PATHS.includes(id))
if (unknown.length > 0) {
  console.error(`--paths: ${unknown.join(', ')} cannot be profiled; allowed: ${NODE_PATHS.join(', ')}`)
  process.exit(2)
}
const seconds = Number(values.seconds)
const connections = Number(values.connections)
const size = Number(values.size)
const handshakes = values.handshakes === undefined ? null : Number(values.handshakes)
if (handshakes !== null && !(Number.isInteger(handshakes) && handshakes > 0)) {
  console.error(`--handshakes: got ${values.handshakes}; allowed: a whole number ≥ 1`)
  process.exit(2)
}

const sections: string[] = []
for (const id of ids) {
  const path = PATHS.find((p) => p.id === id)
  const skip = path === undefined ? 'unknown path' : path.skipReason()
  if (path === undefined || skip !== null) {
    sections.push(`### ${id}\n\nskipped: ${skip}\n`)
    continue
  }
  const dir = mkdtempSync(join(tmpdir(), `wsc-prof-${id}-`))
  const backend = await startBackend()
  const running = await path.start([backend.port], { maxConnections: handshakes ?? connections, execArgv: ['--cpu-prof', '--cpu-prof-dir', dir] })
  let figure = ''
  let window: { startUs: number, endUs: number } | undefined
  try {
    const outcome = await runWorkload(running.port, { proxyRoot: running.pid, harness: [process.pid, backend.pid] }, handshakes === null
      ? { kind: 'closed-loop', id: 'profile', connections, size, warmupMs: 1000, durationMs: seconds * 1000 }
      : { kind: 'connections', id: 'profile', count: handshakes, batch: OPEN_BATCH, settleMs: 0 })
    if (outcome.kind === 'closed-loop') {
      const r = outcome.result
      window = { startUs: r.cpu.startMonotonicUs, endUs: r.cpu.endMonotonicUs }
      figure = `${r.roundTripsPerSecond.toFixed(0)} round trips/s, proxy CPU ${r.proxyCpuUsPerRoundTrip.toFixed(2)} µs/round trip ` +
        `(profiler on), errors ${r.errors}`
    } else if (outcome.kind === 'connections') {
      const r = outcome.result
      window = { startUs: r.cpu.startMonotonicUs, endUs: r.cpu.endMonotonicUs }
      figure = `${r.upgradesPerSecond.toFixed(0)} upgrades/s, proxy CPU ${r.proxyCpuUsPerUpgrade.toFixed(0)} µs/upgrade ` +
        `(root process ${r.rootCpuUsPerUpgrade.toFixed(0)}; profiler on), errors ${r.errors}`
    }
  } finally {
    await running.stop()
    await backend.stop()
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()
  if (files.length === 0) {
    sections.push(`### ${id}\n\nno profile was written to ${dir}\n`)
    continue
  }
  const what = handshakes === null ? `C=${connections}, ${size} B, ${seconds} s` : `${handshakes} upgrades in batches of ${OPEN_BATCH}`
  for (const file of files) {
    // Node names each file CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile; the pid tells the cluster's processes apart.
    const pid = file.split('.')[3] ?? '?'
    const label = files.length === 1 ? id : `${id} (pid ${pid}${pid === String(running.pid) ? ', primary' : ''})`
    sections.push(renderProfile(`${label} — ${what}: ${figure}`, summarizeProfile(join(dir, file), window)))
  }
  if (values.keep === true) console.log(`profiles kept in ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
}

const date = new Date().toISOString()
const text = [`# CPU profile of the ${handshakes === null ? 'tunnel path' : 'upgrade path'} — ${date}`, '', 'Self time per function from `node --cpu-prof` in each proxy process, counting only samples inside the ' +
  'measured window (not start-up or warm-up); "ours" is code under dist/plugin or dist/cluster.', '', ...sections].join('\n')
const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url))
mkdirSync(outDir, { recursive: true })
const out = join(outDir, `profile-${date.slice(0, 16).replace(/:/g, '')}.md`)
writeFileSync(out, text)
console.log(text)
console.log(`written: ${out}`)
