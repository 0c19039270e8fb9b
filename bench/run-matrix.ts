import { setTimeout as sleep } from 'node:timers/promises'
import type { ClientDriver } from './client-driver.js'
import type { LatencyPinning } from './cpu-pinning.js'
import { cpuTicks, machineTicks, processTree } from './proc-stats.js'
import { startBackend, type PathDefinition, type RunningPath } from './paths.js'
import type { Plan } from './plan.js'
import type { Measurement } from './summary.js'
import { othersShareOf, type WorkloadResult, type WorkloadSpec } from './workload-runner.js'

/**
 * The repetition loop: rep 1 of every path, then rep 2 of every path, … (so slow
 * drifts of a shared machine hit all paths alike), each path a fresh backend and
 * a fresh proxy process that runs every workload of the plan in turn.
 */

/** Share of the machine other processes may use in a window before it is repeated (bench/README.md, "Noise"). */
export const NOISE_LIMIT = 0.15

/**
 * On a shared machine other people's builds and tests come in bursts. Before a
 * measured window the run waits — within a budget for the whole run — until
 * processes that are not ours have used less than `limit` of the machine for a
 * short while, so fewer windows need repeating or flagging. The figures are
 * still checked afterwards: the gate only improves the odds.
 */
export class QuietGate {
  private spentMs = 0

  constructor (
    private readonly budgetMs: number,
    private readonly limit: number,
    private readonly maxWaitMs = 15_000,
    private readonly sampleMs = 500
  ) {}

  /** Milliseconds waited so far in this run. */
  get waitedMs (): number {
    return this.spentMs
  }

  /** Waits until others are quiet, at most `maxWaitMs` and never past the run's budget; returns the wait in ms. */
  async wait (ourRoots: readonly number[]): Promise<number> {
    const started = performance.now()
    const deadline = started + Math.min(this.maxWaitMs, this.budgetMs - this.spentMs)
    const ours = ourRoots.filter((pid) => pid > 0).flatMap((pid) => processTree(pid))
    while (performance.now() < deadline) {
      const m0 = machineTicks()
      const o0 = cpuTicks(ours)
      await sleep(this.sampleMs)
      const m1 = machineTicks()
      const others = Math.max(0, (m1.busy - m0.busy) - (cpuTicks(ours) - o0)) / Math.max(1, m1.total - m0.total)
      if (others <= this.limit) break
    }
    const waited = performance.now() - started
    this.spentMs += waited
    return waited
  }
}

export interface MatrixResult {
  measurements: Measurement[]
  failures: Array<{ path: string, rep: number, spec: string, error: string }>
}

function line (path: string, rep: number, spec: string, r: WorkloadResult, note: string): string {
  const others = `others ${(othersShareOf(r) * 100).toFixed(0)}%`
  if (r.kind === 'closed-loop') {
    const x = r.result
    return `${path} rep ${rep} ${spec}: ${x.roundTripsPerSecond.toFixed(0)} rt/s, proxy ${x.proxyCpuUsPerRoundTrip?.toFixed(1)} µs/rt, ` +
      `p50 ${x.latency.p50Us?.toFixed(1)} µs, errors ${x.errors}, ${others}${note}`
  }
  if (r.kind === 'connections') {
    const x = r.result
    return `${path} rep ${rep} ${spec}: ${x.opened} open in ${x.setupSeconds.toFixed(2)} s (${x.upgradesPerSecond.toFixed(0)}/s), ` +
      `${x.rssKiBPerConnection.toFixed(1)} KiB/conn, root ${x.rootCpuUsPerUpgrade.toFixed(1)} µs/upgrade, errors ${x.errors}, ${others}${note}`
  }
  if (r.kind === 'open-loop') {
    const x = r.result
    return `${path} rep ${rep} ${spec}: ${x.roundTripsPerSecond.toFixed(0)} rt/s of ${x.offeredPerSecond} offered, ` +
      `proxy ${x.proxyCpuUsPerRoundTrip?.toFixed(1)} µs/rt, p50 ${x.latency.p50Us?.toFixed(1)} µs, p99 ${x.latency.p99Us?.toFixed(1)} µs, errors ${x.errors}, ${others}${note}`
  }
  if (r.kind === 'slow-consumer') {
    const x = r.result
    return `${path} rep ${rep} ${spec}: proxy RSS ${x.rssGrowthKiB >= 0 ? '+' : ''}${(x.rssGrowthKiB / 1024).toFixed(1)} MiB while ${(x.offeredBytes / 1048576).toFixed(0)} MiB waited unread, errors ${x.errors}${note}`
  }
  if (r.kind === 'storm') {
    const x = r.result
    const k = x.kill
    const kill = k === null
      ? `kill phase ${x.killNote ?? 'not run'}`
      : `kill: lost ${k.lost}, all back in ${k.reconnectSeconds.toFixed(2)} s, p99 reconnect ${k.reconnectP99Ms.toFixed(1)} ms, ` +
        `failed attempts ${k.failedAttempts}, never reconnected ${k.neverReconnected}${k.firstError === null ? '' : ` (${k.firstError})`}`
    return `${path} rep ${rep} ${spec}: ${x.opened}/${x.requested} open in ${x.stormSeconds.toFixed(2)} s (${x.upgradesPerSecond.toFixed(0)}/s), ` +
      `p99 handshake ${x.handshakeP99Ms.toFixed(1)} ms, proxy ${x.proxyCpuUsPerUpgrade.toFixed(1)} µs/upgrade, errors ${x.errors}` +
      `${x.firstError === null ? '' : ` (${x.firstError})`}; ${kill}; ${others}${note}`
  }
  return `${path} rep ${rep} ${spec}: client ${r.result.clientCpuUsPerRoundTrip.toFixed(2)} µs/rt`
}

/**
 * What must be stopped if the run is interrupted: nginx and HAProxy do not die
 * with the orchestrator the way forked Node children (IPC disconnect) do.
 */
const live = new Set<() => Promise<void>>()
let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: stopping the running proxy and backend`)
    Promise.allSettled([...live].map((stop) => stop())).finally(() => process.exit(130))
  })
}

/**
 * W7 against a fresh instance of `path` in front of two fresh backends, A and
 * B: the load client kills A itself (it is given A's pid), so nothing else
 * shares what the kill breaks. Not repeated when noisy: a repeat would need
 * yet another instance, and the flag says enough.
 */
async function runStorm (client: ClientDriver, path: PathDefinition, rep: number, spec: Plan['storm'][number], gate: QuietGate | null, out: MatrixResult): Promise<void> {
  const stops: Array<() => Promise<void>> = []
  const track = <T extends { stop: () => Promise<void> }>(x: T): T => { stops.push(x.stop); live.add(x.stop); return x }
  try {
    const a = track(await startBackend())
    const b = track(await startBackend())
    const running: RunningPath = track(await path.start([a.port, b.port], { maxConnections: spec.connections }))
    await gate?.wait([process.pid, client.pid, a.pid, b.pid, running.pid])
    const watched = { proxyRoot: running.pid, harness: [client.pid, a.pid, b.pid, process.pid] }
    const killPid = path.oneUpstream === null ? a.pid : 0
    const result = await client.run(running.port, watched, { ...spec, killPid, killNote: path.oneUpstream })
    const flagged = othersShareOf(result) > NOISE_LIMIT
    console.log(line(path.id, rep, spec.id, result, flagged ? ' — FLAGGED noisy' : ''))
    if (result.kind === 'storm') out.measurements.push({ path: path.id, rep, spec: spec.id, kind: 'storm', repeated: false, flagged, result: result.result })
  } catch (err) {
    out.failures.push({ path: path.id, rep, spec: spec.id, error: String((err as Error).stack ?? err) })
    console.log(`${path.id} rep ${rep} ${spec.id}: failed: ${(err as Error).message}`)
  } finally {
    for (const stop of stops.reverse()) {
      await stop()
      live.delete(stop)
    }
  }
}

/** The plan's W1–W6 workloads against one fresh instance of `path` in front of one fresh backend, in turn. */
async function runSpecs (
  client: ClientDriver, path: PathDefinition, rep: number, plan: Plan, repeatNoisy: boolean, gate: QuietGate | null, pinning: LatencyPinning | null, out: MatrixResult
): Promise<void> {
  const { measurements, failures } = out
  const backend = await startBackend()
  live.add(backend.stop)
  let running
  try {
    running = await path.start([backend.port], { maxConnections: plan.idleConnections })
    live.add(running.stop)
  } catch (err) {
    failures.push({ path: path.id, rep, spec: 'start', error: String((err as Error).stack ?? err) })
    console.log(`${path.id} rep ${rep}: failed to start: ${(err as Error).message}`)
    await backend.stop()
    live.delete(backend.stop)
    return
  }
  try {
    const watched = { proxyRoot: running.pid, harness: [client.pid, backend.pid, process.pid] }
    const targets = { client: client.pid, backend: backend.pid, proxyRoot: running.pid }
    const port = running.port
    // Only the C=1 latency window is pinned (cpu-pinning.ts); the others use whatever core is free.
    const measure = async (spec: WorkloadSpec): Promise<WorkloadResult> => {
      if (pinning === null || spec.kind !== 'closed-loop' || spec.connections !== 1) return await client.run(port, watched, spec)
      pinning.pin(targets)
      try {
        return await client.run(port, watched, spec)
      } finally {
        pinning.unpin(targets)
      }
    }
    for (const spec of plan.specs) {
      try {
        const ours = [process.pid, client.pid, backend.pid, running.pid]
        await gate?.wait(ours)
        let result = await measure(spec)
        let repeated = false
        if (repeatNoisy && othersShareOf(result) > NOISE_LIMIT) {
          console.log(line(path.id, rep, spec.id, result, ' — noisy, repeating'))
          await gate?.wait(ours)
          result = await measure(spec)
          repeated = true
        }
        const flagged = othersShareOf(result) > NOISE_LIMIT
        console.log(line(path.id, rep, spec.id, result, flagged ? ' — FLAGGED noisy' : ''))
        if (result.kind === 'closed-loop') {
          measurements.push({ path: path.id, rep, spec: spec.id, kind: 'closed-loop', repeated, flagged, result: result.result })
        } else if (result.kind === 'connections') {
          measurements.push({ path: path.id, rep, spec: spec.id, kind: 'connections', repeated, flagged, result: result.result })
        } else if (result.kind === 'open-loop') {
          measurements.push({ path: path.id, rep, spec: spec.id, kind: 'open-loop', repeated, flagged, result: result.result })
        } else if (result.kind === 'slow-consumer') {
          measurements.push({ path: path.id, rep, spec: spec.id, kind: 'slow-consumer', repeated, flagged, result: result.result })
        }
      } catch (err) {
        failures.push({ path: path.id, rep, spec: spec.id, error: String((err as Error).stack ?? err) })
        console.log(`${path.id} rep ${rep} ${spec.id}: failed: ${(err as Error).message}`)
      }
    }
  } finally {
    await running.stop()
    await backend.stop()
    live.delete(running.stop)
    live.delete(backend.stop)
  }
}

/**
 * @param repeatNoisy repeat a window once when others used more than NOISE_LIMIT of the machine
 *   (off for --quick and --no-repeat: on a constantly shared box it doubles the run for little gain, and the flag remains).
 * @param gate waits for a quiet machine before each window, or null not to wait.
 * @param pinning pins the W1 window's processes to fixed CPUs, or null to leave them to the scheduler.
 */
export async function runMatrix (
  client: ClientDriver,
  paths: readonly PathDefinition[],
  plan: Plan,
  repeatNoisy: boolean,
  gate: QuietGate | null,
  pinning: LatencyPinning | null = null
): Promise<MatrixResult> {
  const out: MatrixResult = { measurements: [], failures: [] }
  for (let rep = 1; rep <= plan.reps; rep++) {
    for (const path of paths) {
      if (plan.specs.length > 0) await runSpecs(client, path, rep, plan, repeatNoisy, gate, pinning, out)
      for (const spec of plan.storm) await runStorm(client, path, rep, spec, gate, out)
    }
  }
  return out
}
