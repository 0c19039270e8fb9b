import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ClientDriver } from './client-driver.js'
import { latencyPinning } from './cpu-pinning.js'
import { machineInfo } from './machine-info.js'
import { PATHS, startBackend } from './paths.js'
import { buildPlan, GROUPS, type Group, type Mode } from './plan.js'
import type { RunReport } from './report-markdown.js'
import { NOISE_LIMIT, QuietGate, runMatrix } from './run-matrix.js'
import { writeResults, type RunFile } from './write-results.js'

/**
 * `npm run bench [-- --quick] [--paths a,b] [--workloads w1,w2,w3] [--reps N]`:
 * runs the protocol's workloads through every available path, repetitions
 * interleaved across paths, and writes JSON, Markdown, latest.md and chart.svg
 * to bench/results/.
 */

const USAGE = `usage: npm run bench -- [--quick] [--paths ${PATHS.map((p) => p.id).join(',')}]
                     [--workloads ${GROUPS.join(',')}] [--specs w2-c50-64b,...] [--reps N] [--no-client-compare] [--no-repeat]
                     [--quiet-budget SECONDS] [--out DIR]`

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    paths: { type: 'string' },
    workloads: { type: 'string' },
    specs: { type: 'string' },
    reps: { type: 'string' },
    'no-client-compare': { type: 'boolean', default: false },
    'no-repeat': { type: 'boolean', default: false },
    'quiet-budget': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}

function list<T extends string> (option: string, raw: string | undefined, allowed: readonly T[]): T[] {
  if (raw === undefined) return [...allowed]
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s))
  if (bad.length > 0) {
    console.error(`--${option}: unknown ${bad.join(', ')}; allowed: ${allowed.join(', ')}`)
    process.exit(2)
  }
  return items as T[]
}

const mode: Mode = values.quick === true ? 'quick' : 'full'
const reps = values.reps === undefined ? null : Number(values.reps)
if (reps !== null && !(Number.isInteger(reps) && reps > 0)) {
  console.error(`--reps: got ${values.reps}; allowed: a whole number ≥ 1`)
  process.exit(2)
}
const chosenIds = list('paths', values.paths, PATHS.map((p) => p.id))
// direct is always measured: every ratio and every added latency is relative to it.
if (!chosenIds.includes('direct')) chosenIds.unshift('direct')
const groups = list<Group>('workloads', values.workloads, GROUPS)

const machine = machineInfo()
const plan = buildPlan(mode, reps, machine.fileLimit, groups)
if (values.specs !== undefined) {
  const wanted = list('specs', values.specs, [...plan.specs, ...plan.storm].map((s) => s.id))
  plan.specs = plan.specs.filter((s) => wanted.includes(s.id))
  plan.storm = plan.storm.filter((s) => wanted.includes(s.id))
}
const skipped: Record<string, string> = {}
const paths = PATHS.filter((p) => chosenIds.includes(p.id)).filter((p) => {
  const why = p.skipReason()
  if (why !== null) skipped[p.id] = why
  return why === null
})
const startedAt = performance.now()
console.log(`bench ${mode}: ${paths.map((p) => p.id).join(', ')}; ${plan.reps} rep(s); ` +
  `workloads ${[...plan.specs, ...plan.storm].map((s) => s.id).join(', ')}` +
  (Object.keys(skipped).length > 0 ? `; skipped ${Object.entries(skipped).map(([k, v]) => `${k} (${v})`).join(', ')}` : ''))

const client = await ClientDriver.start()
let clientComparison: RunReport['clientComparison'] = null
if (values['no-client-compare'] !== true) {
  const backend = await startBackend()
  try {
    const watched = { proxyRoot: 0, harness: [client.pid, backend.pid, process.pid] }
    const raw = await client.run(backend.port, watched, plan.clientComparison[0])
    const ws = await client.run(backend.port, watched, plan.clientComparison[1])
    const rawUs = raw.kind === 'closed-loop' ? raw.result.clientCpuUsPerRoundTrip : null
    const wsUs = ws.kind === 'ws-client' ? ws.result.clientCpuUsPerRoundTrip : null
    clientComparison = { rawClientCpuUs: rawUs, wsClientCpuUs: wsUs, cheaper: (rawUs ?? Infinity) <= (wsUs ?? Infinity) ? 'raw-socket' : 'ws' }
    console.log(`load client CPU µs/round trip: raw ${rawUs?.toFixed(2)}, ws ${wsUs?.toFixed(2)}`)
  } finally {
    await backend.stop()
  }
}

const repeatNoisy = mode === 'full' && values['no-repeat'] !== true
// Full runs may spend up to 8 minutes in total waiting for other people's jobs to pause; quick runs do not wait.
const quietBudgetSeconds = Number(values['quiet-budget'] ?? (mode === 'full' ? 480 : 0))
if (!(quietBudgetSeconds >= 0)) {
  console.error(`--quiet-budget: got ${values['quiet-budget']}; allowed: seconds ≥ 0`)
  process.exit(2)
}
const gate = quietBudgetSeconds > 0 ? new QuietGate(quietBudgetSeconds * 1000, NOISE_LIMIT) : null
const pinning = latencyPinning()
const { measurements, failures } = await runMatrix(client, paths, plan, repeatNoisy, gate, typeof pinning === 'string' ? null : pinning)
await client.stop()

const c1 = plan.specs.find((s) => s.kind === 'closed-loop' && s.connections === 1)?.id ?? 'w1-c1-64b'
const run: RunFile = {
  mode,
  reps: plan.reps,
  machine,
  paths: paths.map((p) => ({ id: p.id, describe: p.describe })),
  skipped,
  failures,
  clientComparison,
  headlineSpecs: { c1, c50: 'w2-c50-64b', c256: 'w2-c256-64b', idle: `w34-${plan.idleConnections}` },
  repeatNoisy,
  latencyPinning: typeof pinning === 'string' ? pinning : pinning.describe,
  quietWaitSeconds: (gate?.waitedMs ?? 0) / 1000,
  durationSeconds: (performance.now() - startedAt) / 1000,
  plan,
  measurements
}
const outDir = values.out ?? fileURLToPath(new URL('../../bench/results/', import.meta.url))
console.log(writeResults(run, outDir))
console.log(`written to ${outDir}: <date>-${mode}.json and .md, latest.md, chart.svg`)
