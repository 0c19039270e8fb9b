import type { StormOptions } from './storm.js'
import type { WorkloadSpec } from './workload-runner.js'
import { OPEN_BATCH } from './workload-runner.js'

/**
 * What a run measures: the workloads of the protocol (bench/README.md) in the
 * order each fresh proxy process sees them, for a full run and for the
 * one-minute `--quick` run.
 */

export type Mode = 'full' | 'quick'

/** Workload groups selectable with `--workloads`. */
export const GROUPS = ['w1', 'w2', 'w3', 'w5', 'w6', 'w7'] as const
export type Group = typeof GROUPS[number]

export interface Plan {
  mode: Mode
  reps: number
  idleConnections: number
  specs: Array<WorkloadSpec & { group: Group }>
  /**
   * W7, run after a path's other workloads against a fresh instance of the path
   * in front of two fresh backends, because its kill phase ends one of them.
   * `killPid` and `killNote` are filled in by the run for each instance.
   */
  storm: Array<{ group: 'w7', kind: 'storm', id: string } & StormOptions>
  /** The load-client comparison (raw sockets against `ws`), run once through `direct`. */
  clientComparison: WorkloadSpec[]
}

/** W3 wants 10,000 idle connections where the file limit lets the proxy hold both sides of each. */
export function idleConnectionCount (fileLimit: number, mode: Mode): number {
  if (mode === 'quick') return 1000
  return fileLimit >= 2 * 10_000 + 1024 ? 10_000 : 5000
}

/**
 * W7 wants 10,000 clients at once where the proxy can hold both sides of each
 * (2 fds per connection, plus room for the process itself), else the largest
 * thousand that fits.
 */
export function stormConnectionCount (fileLimit: number, mode: Mode): number {
  if (mode === 'quick') return 1000
  return Math.max(1000, Math.min(10_000, Math.floor((fileLimit - 1024) / 2 / 1000) * 1000))
}

const STORM_PHASE_TIMEOUT_MS = 30_000

const KIB = 1024

export function buildPlan (mode: Mode, reps: number | null, fileLimit: number, groups: readonly Group[]): Plan {
  const quick = mode === 'quick'
  const idle = idleConnectionCount(fileLimit, mode)
  const loop = (group: Group, connections: number, size: number, warmupMs: number, durationMs: number): WorkloadSpec & { group: Group } => ({
    group,
    kind: 'closed-loop',
    id: connections === 1 ? `w1-c1-${size}b` : `w2-c${connections}-${size >= KIB ? `${size / KIB}k` : `${size}b`}`,
    connections,
    size,
    warmupMs,
    durationMs
  })
  const all: Array<WorkloadSpec & { group: Group }> = quick
    ? [
        loop('w1', 1, 64, 200, 1000),
        loop('w2', 50, 64, 200, 1000),
        { group: 'w3', kind: 'connections', id: `w34-${idle}`, count: idle, batch: OPEN_BATCH, settleMs: 500 },
        { group: 'w6', kind: 'slow-consumer', id: 'w6-slow-32m', bytes: 32 * KIB * KIB, settleMs: 500 }
      ]
    : [
        loop('w1', 1, 64, 2000, 10_000),
        loop('w2', 50, 64, 1000, 5000),
        loop('w2', 256, 64, 1000, 3000),
        loop('w2', 50, 4 * KIB, 500, 2500),
        loop('w2', 256, 4 * KIB, 500, 2500),
        loop('w2', 50, 64 * KIB, 500, 2500),
        loop('w2', 256, 64 * KIB, 500, 2500),
        { group: 'w3', kind: 'connections', id: `w34-${idle}`, count: idle, batch: OPEN_BATCH, settleMs: 3000 },
        { group: 'w5', kind: 'open-loop', id: 'w5-1000x10-64b', connections: 1000, size: 64, rate: 10, warmupMs: 1000, durationMs: 5000 },
        { group: 'w6', kind: 'slow-consumer', id: 'w6-slow-64m', bytes: 64 * KIB * KIB, settleMs: 2000 }
      ]
  const stormN = stormConnectionCount(fileLimit, mode)
  const compare = quick ? { warmupMs: 200, durationMs: 1000 } : { warmupMs: 1000, durationMs: 4000 }
  return {
    mode,
    reps: reps ?? (quick ? 1 : 3),
    idleConnections: idle,
    specs: all.filter((s) => groups.includes(s.group)),
    storm: groups.includes('w7')
      ? [{ group: 'w7', kind: 'storm', id: `w7-storm-${stormN}`, connections: stormN, killPid: 0, killNote: null, phaseTimeoutMs: STORM_PHASE_TIMEOUT_MS }]
      : [],
    clientComparison: [
      { kind: 'closed-loop', id: 'client-raw-c50-64b', connections: 50, size: 64, ...compare },
      { kind: 'ws-client', id: 'client-ws-c50-64b', connections: 50, size: 64, ...compare }
    ]
  }
}
