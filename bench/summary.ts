import type { ClosedLoopResult } from './closed-loop.js'
import type { ConnectionPhaseResult } from './connection-phase.js'
import type { OpenLoopResult } from './open-loop.js'
import type { SlowConsumerResult } from './slow-consumer.js'
import type { StormResult } from './storm.js'

/**
 * Turns the raw per-repetition measurements into the figures the protocol in
 * bench/README.md asks for: medians with min–max, ratios measured side by side
 * in the same run, and latency added over `direct` paired by repetition (the
 * direct run of the same repetition is the closest in time, so noise between
 * repetitions cancels).
 */

export type Measurement =
  | { path: string, rep: number, spec: string, kind: 'closed-loop', repeated: boolean, flagged: boolean, result: ClosedLoopResult }
  | { path: string, rep: number, spec: string, kind: 'connections', repeated: boolean, flagged: boolean, result: ConnectionPhaseResult }
  | { path: string, rep: number, spec: string, kind: 'open-loop', repeated: boolean, flagged: boolean, result: OpenLoopResult }
  | { path: string, rep: number, spec: string, kind: 'slow-consumer', repeated: boolean, flagged: boolean, result: SlowConsumerResult }
  | { path: string, rep: number, spec: string, kind: 'storm', repeated: boolean, flagged: boolean, result: StormResult }

export interface Stat {
  median: number
  min: number
  max: number
  n: number
}

export function stat (values: readonly number[]): Stat | null {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return null
  const mid = finite.length >> 1
  const median = finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
  return { median, min: finite[0], max: finite[finite.length - 1], n: finite.length }
}

export interface LoopSummary {
  roundTripsPerSecond: Stat | null
  ratioToDirect: Stat | null
  proxyCpuUs: Stat | null
  clientCpuUs: Stat | null
  p50Us: Stat | null
  p99Us: Stat | null
  p999Us: Stat | null
  addedP50Us: Stat | null
  addedP99Us: Stat | null
  /** Share of the machine other processes used during the windows (0–1). */
  othersShare: Stat | null
  errors: number
  flagged: number
}

export interface ConnectionSummary {
  opened: Stat | null
  upgradesPerSecond: Stat | null
  setupSeconds: Stat | null
  proxyCpuUsPerUpgrade: Stat | null
  rootCpuUsPerUpgrade: Stat | null
  rssKiBPerConnection: Stat | null
  errors: number
  flagged: number
}

export interface OpenLoopSummary {
  roundTripsPerSecond: Stat | null
  proxyCpuUs: Stat | null
  p50Us: Stat | null
  p99Us: Stat | null
  p999Us: Stat | null
  addedP50Us: Stat | null
  addedP99Us: Stat | null
  errors: number
  flagged: number
}

export interface SlowConsumerSummary {
  /** Growth of the proxy tree's RSS while the unread echoes piled up, in KiB. */
  rssGrowthKiB: Stat | null
  errors: number
  flagged: number
}

export interface StormSummary {
  requested: number
  stormSeconds: Stat | null
  upgradesPerSecond: Stat | null
  handshakeP99Ms: Stat | null
  proxyCpuUsPerUpgrade: Stat | null
  errors: number
  /** Kill phase figures, all null with `killNote` set when the path has nothing to fail over to. */
  lost: Stat | null
  reconnectSeconds: Stat | null
  reconnectP99Ms: Stat | null
  failedAttempts: Stat | null
  neverReconnected: Stat | null
  killNote: string | null
  flagged: number
}

export interface Summary {
  loops: Record<string, Record<string, LoopSummary>>
  connections: Record<string, Record<string, ConnectionSummary>>
  openLoops: Record<string, Record<string, OpenLoopSummary>>
  slowConsumers: Record<string, Record<string, SlowConsumerSummary>>
  storms: Record<string, Record<string, StormSummary>>
}

type LoopMeasurement = Extract<Measurement, { kind: 'closed-loop' }>
type ConnectionMeasurement = Extract<Measurement, { kind: 'connections' }>
type OpenMeasurement = Extract<Measurement, { kind: 'open-loop' }>
type SlowMeasurement = Extract<Measurement, { kind: 'slow-consumer' }>
type StormMeasurement = Extract<Measurement, { kind: 'storm' }>

function paired<R> (rows: Array<{ rep: number, result: R }>, direct: Array<{ rep: number, result: R }>, f: (a: R, d: R) => number): Stat | null {
  const byRep = new Map(direct.map((d) => [d.rep, d.result]))
  return stat(rows.flatMap((row) => {
    const d = byRep.get(row.rep)
    return d === undefined ? [] : [f(row.result, d)]
  }))
}

export function summarize (measurements: readonly Measurement[]): Summary {
  const summary: Summary = { loops: {}, connections: {}, openLoops: {}, slowConsumers: {}, storms: {} }
  const loops = measurements.filter((m): m is LoopMeasurement => m.kind === 'closed-loop')
  const conns = measurements.filter((m): m is ConnectionMeasurement => m.kind === 'connections')

  for (const spec of new Set(loops.map((m) => m.spec))) {
    const ofSpec = loops.filter((m) => m.spec === spec)
    const direct = ofSpec.filter((m) => m.path === 'direct')
    summary.loops[spec] = {}
    for (const path of new Set(ofSpec.map((m) => m.path))) {
      const rows = ofSpec.filter((m) => m.path === path)
      const r = rows.map((m) => m.result)
      summary.loops[spec][path] = {
        roundTripsPerSecond: stat(r.map((x) => x.roundTripsPerSecond)),
        ratioToDirect: paired(rows, direct, (a, d) => a.roundTripsPerSecond / d.roundTripsPerSecond),
        proxyCpuUs: path === 'direct' ? null : stat(r.map((x) => x.proxyCpuUsPerRoundTrip)),
        clientCpuUs: stat(r.map((x) => x.clientCpuUsPerRoundTrip)),
        p50Us: stat(r.map((x) => x.latency.p50Us)),
        p99Us: stat(r.map((x) => x.latency.p99Us)),
        p999Us: stat(r.map((x) => x.latency.p999Us)),
        addedP50Us: paired(rows, direct, (a, d) => a.latency.p50Us - d.latency.p50Us),
        addedP99Us: paired(rows, direct, (a, d) => a.latency.p99Us - d.latency.p99Us),
        othersShare: stat(r.map((x) => x.cpu.othersShare)),
        errors: r.reduce((sum, x) => sum + x.errors, 0),
        flagged: rows.filter((m) => m.flagged).length
      }
    }
  }

  const opens = measurements.filter((m): m is OpenMeasurement => m.kind === 'open-loop')
  for (const spec of new Set(opens.map((m) => m.spec))) {
    const ofSpec = opens.filter((m) => m.spec === spec)
    const direct = ofSpec.filter((m) => m.path === 'direct')
    summary.openLoops[spec] = {}
    for (const path of new Set(ofSpec.map((m) => m.path))) {
      const rows = ofSpec.filter((m) => m.path === path)
      const r = rows.map((m) => m.result)
      summary.openLoops[spec][path] = {
        roundTripsPerSecond: stat(r.map((x) => x.roundTripsPerSecond)),
        proxyCpuUs: path === 'direct' ? null : stat(r.map((x) => x.proxyCpuUsPerRoundTrip)),
        p50Us: stat(r.map((x) => x.latency.p50Us)),
        p99Us: stat(r.map((x) => x.latency.p99Us)),
        p999Us: stat(r.map((x) => x.latency.p999Us)),
        addedP50Us: paired(rows, direct, (a, d) => a.latency.p50Us - d.latency.p50Us),
        addedP99Us: paired(rows, direct, (a, d) => a.latency.p99Us - d.latency.p99Us),
        errors: r.reduce((sum, x) => sum + x.errors, 0),
        flagged: rows.filter((m) => m.flagged).length
      }
    }
  }

  for (const spec of new Set(conns.map((m) => m.spec))) {
    const ofSpec = conns.filter((m) => m.spec === spec)
    summary.connections[spec] = {}
    for (const path of new Set(ofSpec.map((m) => m.path))) {
      const rows = ofSpec.filter((m) => m.path === path)
      const r = rows.map((m) => m.result)
      summary.connections[spec][path] = {
        opened: stat(r.map((x) => x.opened)),
        upgradesPerSecond: stat(r.map((x) => x.upgradesPerSecond)),
        setupSeconds: stat(r.map((x) => x.setupSeconds)),
        proxyCpuUsPerUpgrade: path === 'direct' ? null : stat(r.map((x) => x.proxyCpuUsPerUpgrade)),
        rootCpuUsPerUpgrade: path.startsWith('wsc-cluster') ? stat(r.map((x) => x.rootCpuUsPerUpgrade)) : null,
        rssKiBPerConnection: path === 'direct' ? null : stat(r.map((x) => x.rssKiBPerConnection)),
        errors: r.reduce((sum, x) => sum + x.errors, 0),
        flagged: rows.filter((m) => m.flagged).length
      }
    }
  }
  const slows = measurements.filter((m): m is SlowMeasurement => m.kind === 'slow-consumer')
  for (const spec of new Set(slows.map((m) => m.spec))) {
    const ofSpec = slows.filter((m) => m.spec === spec)
    summary.slowConsumers[spec] = {}
    for (const path of new Set(ofSpec.map((m) => m.path))) {
      const rows = ofSpec.filter((m) => m.path === path)
      const r = rows.map((m) => m.result)
      summary.slowConsumers[spec][path] = {
        rssGrowthKiB: path === 'direct' ? null : stat(r.map((x) => x.rssGrowthKiB)),
        errors: r.reduce((sum, x) => sum + x.errors, 0),
        flagged: rows.filter((m) => m.flagged).length
      }
    }
  }
  const storms = measurements.filter((m): m is StormMeasurement => m.kind === 'storm')
  for (const spec of new Set(storms.map((m) => m.spec))) {
    const ofSpec = storms.filter((m) => m.spec === spec)
    summary.storms[spec] = {}
    for (const path of new Set(ofSpec.map((m) => m.path))) {
      const rows = ofSpec.filter((m) => m.path === path)
      const r = rows.map((m) => m.result)
      const k = r.flatMap((x) => x.kill === null ? [] : [x.kill])
      summary.storms[spec][path] = {
        requested: r[0].requested,
        stormSeconds: stat(r.map((x) => x.stormSeconds)),
        upgradesPerSecond: stat(r.map((x) => x.upgradesPerSecond)),
        handshakeP99Ms: stat(r.map((x) => x.handshakeP99Ms)),
        proxyCpuUsPerUpgrade: path === 'direct' ? null : stat(r.map((x) => x.proxyCpuUsPerUpgrade)),
        errors: r.reduce((sum, x) => sum + x.errors, 0),
        lost: stat(k.map((x) => x.lost)),
        reconnectSeconds: stat(k.map((x) => x.reconnectSeconds)),
        reconnectP99Ms: stat(k.map((x) => x.reconnectP99Ms)),
        failedAttempts: stat(k.map((x) => x.failedAttempts)),
        neverReconnected: stat(k.map((x) => x.neverReconnected)),
        killNote: r.find((x) => x.killNote !== null)?.killNote ?? null,
        flagged: rows.filter((m) => m.flagged).length
      }
    }
  }
  return summary
}

/** Median of `path` over median of `base` for one figure, or null when either is missing. */
export function ratio (a: Stat | null | undefined, b: Stat | null | undefined): number | null {
  if (a == null || b == null || b.median === 0) return null
  return a.median / b.median
}
