import { setTimeout as sleep } from 'node:timers/promises'
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js'
import { cpuWindow, processTree, sampleCpu, type CpuWindow, type WatchedProcesses } from './proc-stats.js'
import type { RawConnection } from './raw-connection.js'
import { maskedBinaryFrame } from './ws-frames.js'

/**
 * W5, the open loop: every connection sends at a fixed rate whether or not its
 * previous echo is back, so a proxy that stalls cannot slow the sender down and
 * hide its own stall (no coordinated omission). Latency runs from the moment a
 * message was written, not from its slot in the schedule: the schedule is kept
 * by a 1 ms timer whose jitter belongs to the client, not to the proxy. Sends
 * are spread evenly: connection i sends at i/N of each period.
 */

export interface OpenLoopOptions {
  size: number
  /** Messages per second per connection. */
  rate: number
  warmupMs: number
  durationMs: number
}

export interface OpenLoopResult {
  connections: number
  size: number
  offeredPerSecond: number
  roundTrips: number
  roundTripsPerSecond: number
  errors: number
  firstError: string | null
  latency: LatencySummary
  cpu: CpuWindow
  proxyCpuUsPerRoundTrip: number
}

const TICK_MS = 1

export async function openLoop (
  connections: readonly RawConnection[],
  watched: WatchedProcesses,
  options: OpenLoopOptions
): Promise<OpenLoopResult> {
  const frame = maskedBinaryFrame(options.size)
  const histogram = new LatencyHistogram()
  const n = connections.length
  const periodMs = 1000 / options.rate
  // Echoes come back in order per connection, so a small FIFO of send times per connection suffices.
  const due: number[][] = connections.map(() => [])
  let measuring = false
  let roundTrips = 0
  let errors = 0
  let firstError: string | null = null

  connections.forEach((conn, i) => {
    conn.onFailure = (reason) => { errors++; firstError ??= reason }
    conn.onFrames = (frames) => {
      const now = performance.now()
      for (let f = 0; f < frames; f++) {
        const sentFor = due[i].shift()
        if (sentFor === undefined) {
          errors++
          firstError ??= 'an echo nobody asked for'
          continue
        }
        if (measuring) {
          histogram.record(now - sentFor)
          roundTrips++
        }
      }
    }
  })

  const startAt = performance.now()
  let nextIndex = 0
  const state = { sending: true }
  const pump = async (): Promise<void> => {
    while (state.sending) {
      // Every send whose slot has passed goes out now.
      const dueCount = Math.floor((performance.now() - startAt) / periodMs * n)
      while (nextIndex < dueCount) {
        const i = nextIndex % n
        due[i].push(performance.now())
        connections[i].send(frame)
        nextIndex++
      }
      await sleep(TICK_MS)
    }
  }
  const pumping = pump()

  const tree = watched.proxyRoot === 0 ? [] : processTree(watched.proxyRoot)
  await sleep(options.warmupMs)
  const start = sampleCpu(watched, tree)
  measuring = true
  await sleep(options.durationMs)
  measuring = false
  const end = sampleCpu(watched, tree)
  state.sending = false
  await pumping

  const pending = (): number => due.reduce((sum, q) => sum + q.length, 0)
  const deadline = Date.now() + 10_000
  while (pending() > 0 && Date.now() < deadline) await sleep(5)
  if (pending() > 0) {
    errors++
    firstError ??= `${pending()} echoes never came back`
  }
  for (const conn of connections) {
    conn.onFrames = () => {}
    conn.onFailure = () => {}
  }
  const cpu = cpuWindow(start, end)
  return {
    connections: n,
    size: options.size,
    offeredPerSecond: n * options.rate,
    roundTrips,
    roundTripsPerSecond: roundTrips / cpu.seconds,
    errors,
    firstError,
    latency: histogram.summary(),
    cpu,
    proxyCpuUsPerRoundTrip: roundTrips === 0 ? NaN : cpu.proxyCpuSeconds * 1e6 / roundTrips
  }
}
