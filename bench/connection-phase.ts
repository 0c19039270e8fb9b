import { setTimeout as sleep } from 'node:timers/promises'
import { cpuWindow, processTree, rssKiB, sampleCpu, type CpuWindow, type WatchedProcesses } from './proc-stats.js'
import { closeConnections, openConnections } from './raw-connection.js'
import { maskedBinaryFrame } from './ws-frames.js'

/**
 * W4 (connection setup) and W3 (idle capacity) in one pass, because W3 needs the
 * connections W4 opens anyway: open `count` connections in batches, time it and
 * take the proxy's CPU for it (for a cluster, the primary's alone too), let them
 * sit idle for `settleMs`, weigh the proxy's process tree, then prove every idle
 * connection still works with one echo each before closing them all.
 */

export interface ConnectionPhaseOptions {
  count: number
  batch: number
  settleMs: number
}

export interface ConnectionPhaseResult {
  requested: number
  opened: number
  errors: number
  firstError: string | null
  setupSeconds: number
  upgradesPerSecond: number
  cpu: CpuWindow
  proxyCpuUsPerUpgrade: number
  /** CPU of the proxy's root process alone per upgrade: the cluster primary's hand-off cost. */
  rootCpuUsPerUpgrade: number
  rssBeforeKiB: number
  rssAfterKiB: number
  rssKiBPerConnection: number
  /** Idle connections that answered one echo after the RSS reading. */
  aliveAfterIdle: number
}

export async function connectionPhase (
  port: number,
  watched: WatchedProcesses,
  options: ConnectionPhaseOptions
): Promise<ConnectionPhaseResult> {
  const tree = watched.proxyRoot === 0 ? [] : processTree(watched.proxyRoot)
  // One batch first, so lazily compiled code and first-use pools are in the baseline, not in the per-connection figure.
  const warm = await openConnections(port, Math.min(options.batch, options.count), options.batch)
  await closeConnections(warm.connections)
  await sleep(300)
  const rssBeforeKiB = rssKiB(tree)
  const start = sampleCpu(watched, tree)
  const opened = await openConnections(port, options.count, options.batch)
  const end = sampleCpu(watched, tree)
  const cpu = cpuWindow(start, end)
  const connections = opened.connections
  let errors = opened.errors
  let firstError = opened.firstError

  await sleep(options.settleMs)
  const rssAfterKiB = rssKiB(tree)

  const frame = maskedBinaryFrame(16)
  let alive = 0
  await new Promise<void>((resolve) => {
    let pending = connections.length
    if (pending === 0) resolve()
    const timer = setTimeout(resolve, 15_000)
    const settle = (): void => {
      if (--pending === 0) {
        clearTimeout(timer)
        resolve()
      }
    }
    for (const conn of connections) {
      conn.onFrames = () => { alive++; conn.onFrames = () => {}; settle() }
      conn.onFailure = (reason) => { firstError ??= `idle connection: ${reason}`; settle() }
      conn.send(frame)
    }
  })
  if (alive < connections.length) {
    errors += connections.length - alive
    firstError ??= `${connections.length - alive} idle connections did not echo`
  }
  for (const conn of connections) conn.onFailure = () => {}
  await closeConnections(connections)

  const n = Math.max(1, connections.length)
  return {
    requested: options.count,
    opened: connections.length,
    errors,
    firstError,
    setupSeconds: cpu.seconds,
    upgradesPerSecond: connections.length / cpu.seconds,
    cpu,
    proxyCpuUsPerUpgrade: cpu.proxyCpuSeconds * 1e6 / n,
    rootCpuUsPerUpgrade: cpu.proxyRootCpuSeconds * 1e6 / n,
    rssBeforeKiB,
    rssAfterKiB,
    rssKiBPerConnection: (rssAfterKiB - rssBeforeKiB) / n,
    aliveAfterIdle: alive
  }
}
