import { cpuWindow, processTree, sampleCpu, type CpuWindow, type WatchedProcesses } from './proc-stats.js'
import { closeConnections, RawConnection } from './raw-connection.js'
import { killPhase, percentile, type KillPhaseResult } from './storm-reconnect.js'

/**
 * W7 "reconnect storm": N clients connect at once — every connect issued in
 * the same tick, no batches, so a listen backlog smaller than N makes SYNs
 * wait and retry, which is part of what the workload shows — and then, with
 * all of them open, backend A is killed and its clients reconnect at once
 * (storm-reconnect.ts). The path runs in front of two fresh backends of its
 * own, so the kill touches no other workload.
 */

export interface StormOptions {
  connections: number
  /** Backend A's pid, killed by the load client itself (it is ours to kill); 0 when the kill phase does not apply. */
  killPid: number
  /** Why the kill phase does not apply (`killPid` 0), shown in its place. */
  killNote: string | null
  /** Bound of each phase: a path that misbehaves yields errors, never a hang. */
  phaseTimeoutMs: number
}

export interface StormResult {
  requested: number
  opened: number
  errors: number
  firstError: string | null
  /** First connect() call to the last 101, in seconds. */
  stormSeconds: number
  upgradesPerSecond: number
  /** connect() call to the 101 fully received, per connection, in ms. */
  handshakeP50Ms: number
  handshakeP99Ms: number
  handshakeMaxMs: number
  cpu: CpuWindow
  proxyCpuUsPerUpgrade: number
  kill: KillPhaseResult | null
  killNote: string | null
}

interface Storm {
  connections: RawConnection[]
  latencies: number[]
  errors: number
  firstError: string | null
  seconds: number
}

/** Opens `count` connections in one synchronous loop and waits for every answer, at most `timeoutMs`. */
async function storm (port: number, count: number, timeoutMs: number): Promise<Storm> {
  const all: RawConnection[] = []
  const open: RawConnection[] = []
  const latencies: number[] = []
  let errors = 0
  let firstError: string | null = null
  let lastOpenAt = 0
  let pending = count
  let wake: () => void = () => {}
  const done = new Promise<void>((resolve) => { wake = resolve })
  const settle = (): void => { if (--pending === 0) wake() }
  const firstAt = performance.now()
  for (let i = 0; i < count; i++) {
    const startedAt = performance.now()
    const conn = new RawConnection(port)
    all.push(conn)
    conn.opened().then(() => {
      lastOpenAt = performance.now()
      latencies.push(lastOpenAt - startedAt)
      open.push(conn)
      settle()
    }, (err: Error) => {
      errors++
      firstError ??= err.message
      conn.socket.destroy()
      settle()
    })
  }
  if (count === 0) wake()
  const timer = setTimeout(wake, timeoutMs)
  await done
  clearTimeout(timer)
  if (pending > 0) {
    // Unanswered after the timeout: counted as errors and dropped, so the kill phase starts from connections known to be open.
    const opened = new Set(open)
    for (const conn of all) if (!opened.has(conn)) { conn.onFailure = () => {}; conn.socket.destroy() }
    errors += pending
    firstError ??= `${pending} connections had no 101 after ${timeoutMs} ms`
  }
  // One the proxy already dropped again would be mistaken for a client of A in the kill phase.
  const alive = open.filter((conn) => !conn.socket.destroyed)
  if (alive.length < open.length) {
    errors += open.length - alive.length
    firstError ??= `${open.length - alive.length} storm connections closed soon after their 101`
  }
  latencies.sort((a, b) => a - b)
  return { connections: alive, latencies, errors, firstError, seconds: lastOpenAt === 0 ? 0 : (lastOpenAt - firstAt) / 1000 }
}

/**
 * @example
 * const r = await stormWorkload(port, { proxyRoot: pid, harness: [process.pid] },
 *   { connections: 1000, killPid: backendA.pid, killNote: null, phaseTimeoutMs: 30_000 })
 */
export async function stormWorkload (port: number, watched: WatchedProcesses, options: StormOptions): Promise<StormResult> {
  const tree = watched.proxyRoot === 0 ? [] : processTree(watched.proxyRoot)
  const start = sampleCpu(watched, tree)
  const s = await storm(port, options.connections, options.phaseTimeoutMs)
  const cpu = cpuWindow(start, sampleCpu(watched, tree))
  const connections = s.connections
  let kill: KillPhaseResult | null = null
  try {
    if (options.killPid > 0 && connections.length > 0) {
      kill = await killPhase(port, connections, options.killPid, options.phaseTimeoutMs)
    }
  } finally {
    for (const conn of connections) conn.onFailure = () => {}
    await closeConnections(connections)
  }
  const opened = connections.length
  return {
    requested: options.connections,
    opened,
    errors: s.errors,
    firstError: s.firstError,
    stormSeconds: s.seconds,
    upgradesPerSecond: s.seconds > 0 ? opened / s.seconds : 0,
    handshakeP50Ms: percentile(s.latencies, 50),
    handshakeP99Ms: percentile(s.latencies, 99),
    handshakeMaxMs: s.latencies.length === 0 ? 0 : s.latencies[s.latencies.length - 1],
    cpu,
    proxyCpuUsPerUpgrade: cpu.proxyCpuSeconds * 1e6 / Math.max(1, opened),
    kill,
    killNote: options.killPid > 0 ? null : options.killNote
  }
}
