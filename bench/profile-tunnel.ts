import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { renderProfile, summarizeProfile } from './cpu-profile-summary.js'
import { PATHS, startBackend } from './paths.js'
import { runWorkload } from './workload-runner.js'

/**
 * `node dist/bench/profile-tunnel.js [--paths netpipe,wsc-plugin] [--seconds 10] [--connections 50] [--size 64]`:
 * runs the closed loop through Node proxies started under `--cpu-prof` and
 * writes bench/results/profile-<date>.md with their self-time tables, so the
 * tunnel can be compared function by function with the bare net pipe.
 */

const NODE_PATHS = ['netpipe', 'wsc-plugin', 'wsc-plugin-untracked', 'http-proxy', 'fastify-http-proxy']

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: 'netpipe,wsc-plugin' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    size: { type: 'string', default: '64' },
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
  const running = await path.start([backend.port], { maxConnections: connections, execArgv: ['--cpu-prof', '--cpu-prof-dir', dir] })
  let figure = ''
  let window: { startUs: number, endUs: number } | undefined
  try {
    const outcome = await runWorkload(running.port, { proxyRoot: running.pid, harness: [process.pid, backend.pid] }, {
      kind: 'closed-loop', id: 'profile', connections, size, warmupMs: 1000, durationMs: seconds * 1000
    })
    if (outcome.kind === 'closed-loop') {
      const r = outcome.result
      window = { startUs: r.cpu.startMonotonicUs, endUs: r.cpu.endMonotonicUs }
      figure = `${r.roundTripsPerSecond.toFixed(0)} round trips/s, proxy CPU ${r.proxyCpuUsPerRoundTrip.toFixed(2)} µs/round trip ` +
        `(profiler on), errors ${r.errors}`
    }
  } finally {
    await running.stop()
    await backend.stop()
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) {
    sections.push(`### ${id}\n\nno profile was written to ${dir}\n`)
    continue
  }
  const summary = summarizeProfile(join(dir, file), window)
  sections.push(renderProfile(`${id} — C=${connections}, ${size} B, ${seconds} s: ${figure}`, summary))
  if (values.keep === true) console.log(`profile kept: ${join(dir, file)}`)
  else rmSync(dir, { recursive: true, force: true })
}

const date = new Date().toISOString()
const text = [`# CPU profile of the tunnel path — ${date}`, '', 'Self time per function from `node --cpu-prof` in the proxy process, counting only samples inside the ' +
  'measured window (not start-up or warm-up); "ours" is code under dist/plugin or dist/cluster.', '', ...sections].join('\n')
const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url))
mkdirSync(outDir, { recursive: true })
const out = join(outDir, `profile-${date.slice(0, 16).replace(/:/g, '')}.md`)
writeFileSync(out, text)
console.log(text)
console.log(`written: ${out}`)
