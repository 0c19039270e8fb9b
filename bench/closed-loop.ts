import { setTimeout as sleep } from 'node:timers/promises'
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js'
import { cpuWindow, processTree, sampleCpu, type CpuWindow, type WatchedProcesses } from './proc-stats.js'
import type { RawConnection } from './raw-connection.js'
import { maskedBinaryFrame } from './ws-frames.js'

/**
 * The closed-loop ping-pong (W1 with one connection, W2 with many): every
 * connection keeps exactly one message in flight and sends the next as soon as
 * the echo is back. The per-message path is two performance.now() calls, one
 * histogram increment and one write of a frame built once.
 */

export interface ClosedLoopOptions {
  /** Payload bytes per message. */
  size: number
  warmupMs: number
  /** Length of the measured window; ignored when `roundTrips` is set. */
  durationMs: number
  /** Stop after this many measured round trips instead of after `durationMs` (the smoke test). */
  roundTrips?: number
  /** How long stragglers may take to come back once sending stopped. */
  drainTimeoutMs?: number
}

export interface ClosedLoopResult {
  connections: number
  size: number
  roundTrips: number
  errors: number
  firstError: string | null
  roundTripsPerSecond: number
  latency: LatencySummary
  cpu: CpuWindow
  /** Proxy CPU µs per round trip: the headline figure. */
  proxyCpuUsPerRoundTrip: number
  /** The load client's own CPU µs per round trip (client costs are compared once per run). */
  clientCpuUsPerRoundTrip: number
}

/** Client CPU is read apart from the harness total because the runner reports it on its own. */
export function ownCpuMicros (): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

export async function closedLoop (
  connections: readonly RawConnection[],
  watched: WatchedProcesses,
  options: ClosedLoopOptions
): Promise<ClosedLoopResult> {
  const frame = maskedBinaryFrame(options.size)
  const histogram = new LatencyHistogram()
  let measuring = false
  let sending = true
  let roundTrips = 0
  let inFlight = 0
  let errors = 0
  let firstError: string | null = null
  let reachedTarget: (() => void) | null = null
  const target = options.roundTrips ?? Infinity

  for (const conn of connections) {
    conn.onFailure = (reason) => {
      errors++
      firstError ??= reason
      inFlight--
    }
    conn.onFrames = (frames) => {
      // A closed loop never has more than one frame in flight per connection.
      if (frames !== 1) {
        errors++
        firstError ??= `expected one echo, got ${frames}`
      }
      const now = performance.now()
      inFlight--
      if (measuring) {
        histogram.record(now - conn.sentAt)
        if (++roundTrips >= target && reachedTarget !== null) reachedTarget()
      }
      if (sending) {
        conn.sentAt = now
        inFlight++
        conn.send(frame)
      }
    }
  }

  const tree = watched.proxyRoot === 0 ? [] : processTree(watched.proxyRoot)
  for (const conn of connections) {
    conn.sentAt = performance.now()
    inFlight++
    conn.send(frame)
  }
  await sleep(options.warmupMs)
  const clientStart = ownCpuMicros()
  const start = sampleCpu(watched, tree)
  measuring = true
  if (Number.isFinite(target)) {
    // durationMs stays the upper bound, so a proxy that stalls cannot hang the run.
    const cap = new AbortController()
    await Promise.race([
      new Promise<void>((resolve) => { reachedTarget = resolve }),
      sleep(options.durationMs, undefined, { signal: cap.signal }).catch(() => {})
    ])
    cap.abort()
  } else {
    await sleep(options.durationMs)
  }
  measuring = false
  const end = sampleCpu(watched, tree)
  const clientCpu = ownCpuMicros() - clientStart
  sending = false

  const drainDeadline = Date.now() + (options.drainTimeoutMs ?? 10_000)
  const outstanding = (): number => inFlight
  while (outstanding() > 0 && Date.now() < drainDeadline) await sleep(5)
  if (inFlight > 0) {
    errors++
    firstError ??= `${inFlight} echoes never came back`
  }
  for (const conn of connections) {
    conn.onFrames = () => {}
    conn.onFailure = () => {}
  }

  const cpu = cpuWindow(start, end)
  return {
    connections: connections.length,
    size: options.size,
    roundTrips,
    errors,
    firstError,
    roundTripsPerSecond: roundTrips / cpu.seconds,
    latency: histogram.summary(),
    cpu,
    proxyCpuUsPerRoundTrip: roundTrips === 0 ? NaN : cpu.proxyCpuSeconds * 1e6 / roundTrips,
    clientCpuUsPerRoundTrip: roundTrips === 0 ? NaN : clientCpu / roundTrips
  }
}
