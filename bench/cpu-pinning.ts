import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { processTree } from './proc-stats.js'

/**
 * Pins the processes of a latency window (W1) to fixed CPUs with `taskset`,
 * so the scheduler cannot move them between cores mid-measurement: on a
 * 2-core machine that migration alone swung C=1 latency by ±50–90 µs between
 * repetitions. Throughput and memory windows stay unpinned: there the
 * processes should use whatever core is free, as in production.
 *
 * Layout: with 3 or more CPUs, client on 0, backend on 1, the proxy's whole
 * process tree on 2; with 2, client and backend share CPU 0 and the proxy
 * has CPU 1 to itself, so every path, `direct` included, gets the same
 * placement in every repetition.
 */

export interface PinTargets {
  client: number
  backend: number
  /** Root of the proxy's tree, 0 for `direct`. */
  proxyRoot: number
}

export interface LatencyPinning {
  /** Where each process runs, for the report. */
  readonly describe: string
  pin: (targets: PinTargets) => void
  unpin: (targets: PinTargets) => void
}

function taskset (cpus: string, pid: number): void {
  // -a: every thread (libuv's pool, V8's helpers); a process that exited meanwhile is not an error worth stopping for.
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
}

function targetsOf (t: PinTargets): Array<{ pids: number[], role: 'client' | 'backend' | 'proxy' }> {
  return [
    { pids: [t.client], role: 'client' },
    { pids: [t.backend], role: 'backend' },
    { pids: t.proxyRoot === 0 ? [] : processTree(t.proxyRoot), role: 'proxy' }
  ]
}

/**
 * @returns the pinning for this machine, or a reason why latency runs unpinned.
 * @example
 * const pinning = latencyPinning()
 * if (typeof pinning !== 'string') pinning.pin({ client, backend, proxyRoot })
 */
export function latencyPinning (cpus = availableParallelism()): LatencyPinning | string {
  if (cpus < 2) return 'not pinned: one CPU'
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return 'not pinned: taskset is not on PATH (util-linux)'
  const place = cpus >= 3
    ? { client: '0', backend: '1', proxy: '2' }
    : { client: '0', backend: '0', proxy: '1' }
  const all = `0-${cpus - 1}`
  return {
    describe: cpus >= 3
      ? 'pinned with taskset: client CPU 0, backend CPU 1, proxy tree CPU 2'
      : 'pinned with taskset: client and backend CPU 0, proxy tree CPU 1',
    pin: (t) => {
      for (const { pids, role } of targetsOf(t)) for (const pid of pids) taskset(place[role], pid)
    },
    unpin: (t) => {
      for (const { pids } of targetsOf(t)) for (const pid of pids) taskset(all, pid)
    }
  }
}
