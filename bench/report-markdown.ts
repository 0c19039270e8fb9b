import type { MachineInfo } from './machine-info.js'
import { ratio, type Stat, type Summary } from './summary.js'
import { targetChecks } from './targets.js'

/**
 * The Markdown result file: the headline table first (what the issues quote),
 * then every workload with medians and min–max, then the run's circumstances.
 */

export interface RunReport {
  mode: string
  reps: number
  machine: MachineInfo
  paths: Array<{ id: string, describe: string }>
  skipped: Record<string, string>
  failures: Array<{ path: string, rep: number, spec: string, error: string }>
  summary: Summary
  clientComparison: { rawClientCpuUs: number | null, wsClientCpuUs: number | null, cheaper: string } | null
  headlineSpecs: { c1: string, c50: string, c256: string, idle: string }
  repeatNoisy: boolean
  /** Where the W1 window's processes ran (cpu-pinning.ts), or why they were not pinned; absent in runs before pinning. */
  latencyPinning?: string
  /** Seconds spent before windows waiting for other processes to go quiet. */
  quietWaitSeconds?: number
  durationSeconds: number
}

const num = (v: number | null | undefined, digits = 1): string =>
  v == null || !Number.isFinite(v) ? '–' : v.toFixed(digits)

/** "median (min–max)", or just the median with one repetition. */
export function fmt (s: Stat | null | undefined, digits = 1): string {
  if (s == null) return '–'
  if (s.n === 1) return num(s.median, digits)
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`
}

const signed = (s: Stat | null | undefined): string =>
  s == null ? '–' : `${s.median >= 0 ? '+' : ''}${fmt(s)}`

function table (head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)
  ].join('\n')
}

export function renderMarkdown (report: RunReport): string {
  const { summary, headlineSpecs: h } = report
  const ids = report.paths.map((p) => p.id)
  const loop = (spec: string, path: string) => summary.loops[spec]?.[path]
  const conn = (path: string) => summary.connections[h.idle]?.[path]
  const out: string[] = []

  out.push(`# ws-cluster benchmark — ${report.mode} run, ${report.machine.date}`)
  out.push('')
  out.push(`${report.machine.cores} cores (${report.machine.cpuModel}), Node ${report.machine.node}, ` +
    `${report.reps} repetition(s) per path, interleaved across paths; every figure is the median with min–max. ` +
    `Run took ${num(report.durationSeconds / 60, 1)} min. Proxy CPU is utime+stime of the proxy's whole process tree ` +
    'from /proc; added latency is paired with the `direct` run of the same repetition.')
  out.push('')
  out.push('## Headline')
  out.push('')
  out.push(table(
    ['path', 'proxy CPU µs/round trip C=1', 'C=50', 'C=256', '× netpipe (C=50)', '× nginx (C=50)', 'added p50 µs (C=1)', 'added p99 µs (C=1)', 'KiB per idle conn', 'upgrades/s', 'errors'],
    ids.map((id) => {
      const c50 = loop(h.c50, id)
      const errors = [...Object.values(summary.loops), ...Object.values(summary.openLoops)]
        .reduce((s, bySpec) => s + (bySpec[id]?.errors ?? 0), 0) + (conn(id)?.errors ?? 0)
      return [
        id,
        fmt(loop(h.c1, id)?.proxyCpuUs),
        fmt(c50?.proxyCpuUs),
        fmt(loop(h.c256, id)?.proxyCpuUs),
        num(ratio(c50?.proxyCpuUs, loop(h.c50, 'netpipe')?.proxyCpuUs), 2),
        num(ratio(c50?.proxyCpuUs, loop(h.c50, 'nginx')?.proxyCpuUs), 2),
        id === 'direct' ? '0' : signed(loop(h.c1, id)?.addedP50Us),
        id === 'direct' ? '0' : signed(loop(h.c1, id)?.addedP99Us),
        fmt(conn(id)?.rssKiBPerConnection),
        fmt(conn(id)?.upgradesPerSecond, 0),
        String(errors)
      ]
    })
  ))
  out.push('')
  const checks = targetChecks(summary, h)
  if (checks.length > 0) {
    out.push('## Targets (bench/README.md, ws-cluster tunnel mode)')
    out.push('')
    out.push(table(['path', 'target', 'measured', 'met'], checks.map((c) => [c.path, c.target, c.measured, c.met ? 'yes' : '**no**'])))
    out.push('')
  }

  out.push('## W1 latency (1 connection, 64 B ping-pong)')
  out.push('')
  if (report.latencyPinning !== undefined) {
    out.push(`CPU placement in this window: ${report.latencyPinning}.`)
    out.push('')
  }
  out.push(table(['path', 'p50 µs', 'p99 µs', 'p99.9 µs', 'added p50', 'added p99', 'round trips/s'],
    ids.filter((id) => loop(h.c1, id) !== undefined).map((id) => {
      const s = loop(h.c1, id)
      return [id, fmt(s?.p50Us), fmt(s?.p99Us), fmt(s?.p999Us), signed(s?.addedP50Us), signed(s?.addedP99Us), fmt(s?.roundTripsPerSecond, 0)]
    })))
  out.push('')

  out.push('## W2 throughput (closed loop)')
  for (const spec of Object.keys(summary.loops).filter((s) => s !== h.c1)) {
    out.push('')
    out.push(`### ${spec}`)
    out.push('')
    out.push(table(['path', 'round trips/s', '× direct', 'proxy CPU µs/rt', 'p50 µs', 'p99 µs', 'others CPU %', 'errors', 'flagged'],
      ids.filter((id) => summary.loops[spec][id] !== undefined).map((id) => {
        const s = summary.loops[spec][id]
        const others = s.othersShare == null ? '–' : fmt({ ...s.othersShare, median: s.othersShare.median * 100, min: s.othersShare.min * 100, max: s.othersShare.max * 100 }, 0)
        return [id, fmt(s.roundTripsPerSecond, 0), fmt(s.ratioToDirect, 2), fmt(s.proxyCpuUs), fmt(s.p50Us, 0), fmt(s.p99Us, 0), others, String(s.errors), String(s.flagged)]
      })))
  }
  out.push('')

  out.push(`## W3 idle capacity and W4 connection setup (${h.idle.replace('w34-', '')} connections, batches of 250)`)
  out.push('')
  out.push(table(['path', 'opened', 'setup s', 'upgrades/s', 'proxy CPU µs/upgrade', 'primary CPU µs/hand-off', 'RSS KiB per idle conn', 'errors'],
    ids.filter((id) => conn(id) !== undefined).map((id) => {
      const s = conn(id)
      return [id, fmt(s?.opened, 0), fmt(s?.setupSeconds, 2), fmt(s?.upgradesPerSecond, 0), fmt(s?.proxyCpuUsPerUpgrade), fmt(s?.rootCpuUsPerUpgrade), fmt(s?.rssKiBPerConnection), String(s?.errors ?? 0)]
    })))
  out.push('')

  for (const [spec, byPath] of Object.entries(summary.openLoops)) {
    out.push(`## W5 open loop (${spec}: fixed offered load, latency from each message's write)`)
    out.push('')
    out.push(table(['path', 'round trips/s', 'proxy CPU µs/rt', 'p50 µs', 'p99 µs', 'p99.9 µs', 'added p50', 'added p99', 'errors'],
      ids.filter((id) => byPath[id] !== undefined).map((id) => {
        const s = byPath[id]
        return [id, fmt(s.roundTripsPerSecond, 0), fmt(s.proxyCpuUs), fmt(s.p50Us), fmt(s.p99Us), fmt(s.p999Us), signed(s.addedP50Us), signed(s.addedP99Us), String(s.errors)]
      })))
    out.push('')
  }

  for (const [spec, byPath] of Object.entries(summary.slowConsumers ?? {})) {
    out.push(`## W6 memory under a slow consumer (${spec}: the backend floods a client that reads nothing)`)
    out.push('')
    out.push(table(['path', 'proxy RSS growth MiB', 'errors'],
      ids.filter((id) => byPath[id] !== undefined && id !== 'direct').map((id) => {
        const s = byPath[id]
        const mib = (x: Stat | null): Stat | null => x === null ? null : { ...x, median: x.median / 1024, min: x.min / 1024, max: x.max / 1024 }
        return [id, fmt(mib(s.rssGrowthKiB)), String(s.errors)]
      })))
    out.push('')
  }

  for (const [spec, byPath] of Object.entries(summary.storms ?? {})) {
    out.push(`## W7 reconnect storm (${spec}: every client connects in the same tick; then backend A is killed and its clients reconnect at once)`)
    out.push('')
    out.push(table(['path', 'N', 'storm time s', 'upgrades/s', 'p99 handshake ms', 'errors', 'proxy CPU µs/upgrade',
      'kill: lost', 'reconnect time s', 'p99 reconnect ms', 'failed attempts', 'never reconnected'],
    ids.filter((id) => byPath[id] !== undefined).map((id) => {
      const s = byPath[id]
      const kill = s.killNote === null
        ? [fmt(s.lost, 0), fmt(s.reconnectSeconds, 2), fmt(s.reconnectP99Ms), fmt(s.failedAttempts, 0), fmt(s.neverReconnected, 0)]
        : [s.killNote, '–', '–', '–', '–']
      return [id, String(s.requested), fmt(s.stormSeconds, 2), fmt(s.upgradesPerSecond, 0), fmt(s.handshakeP99Ms), String(s.errors), fmt(s.proxyCpuUsPerUpgrade), ...kill]
    })))
    out.push('')
    out.push('A storm larger than the listen backlog (4,096 for the Node proxies and nginx, and the kernel somaxconn caps every path) makes the kernel drop SYNs that the clients retry after 1 s, 3 s, …: ' +
      'long storm times and p99 handshakes in whole seconds show that, not the proxy alone. Failed attempts after the kill are ' +
      'expected from paths without health tracking (netpipe, http-proxy), which keep sending some new connections to the dead backend. All clients come from 127.0.0.1, so the cluster routes ' +
      'them all to one worker slot, where they wait their turn (R105): through the cluster a one-address storm goes at one worker\'s pace.')
    out.push('')
  }

  const relayIds = ['wsc-plugin', 'wsc-relay', 'wsc-relay-inline', 'wsc-relay-pool', 'fastify-http-proxy'].filter((id) => loop(h.c50, id) !== undefined)
  if (relayIds.some((id) => id.startsWith('wsc-relay'))) {
    const cpu = (id: string): Stat | null | undefined => loop(h.c50, id)?.proxyCpuUs
    out.push(`## Relay mode (${h.c50})`)
    out.push('')
    out.push(table(['path', 'proxy CPU µs/rt', '× wsc-plugin (tunnel)'], relayIds.map((id) => [id, fmt(cpu(id)), num(ratio(cpu(id), cpu('wsc-plugin')), 2)])))
    const pool = cpu('wsc-relay-pool')
    const inline = cpu('wsc-relay-inline')
    if (pool != null && inline != null) {
      out.push('')
      // A round trip is two messages through the hook: the client's and its echo.
      out.push(`Pool hand-off per message (a no-op hook in the thread pool minus the same hook inline, halved): ${num((pool.median - inline.median) / 2, 1)} µs of proxy CPU.`)
    }
    out.push('')
  }

  if (report.clientComparison !== null) {
    const c = report.clientComparison
    out.push('## Load client')
    out.push('')
    out.push(`Client CPU per round trip through \`direct\`, C=50, 64 B: raw sockets with pre-built masked frames ${num(c.rawClientCpuUs, 2)} µs, ` +
      `\`ws\` ${num(c.wsClientCpuUs, 2)} µs — the ${c.cheaper} client is cheaper and drives every path.`)
    out.push('')
  }

  out.push('## Machine and versions')
  out.push('')
  out.push(table(['what', 'value'], [
    ['date', report.machine.date],
    ['code measured', report.machine.commit ?? 'unknown'],
    ['cores', `${report.machine.cores} × ${report.machine.cpuModel}`],
    ['memory', `${report.machine.memoryGiB} GiB`],
    ['kernel', report.machine.kernel],
    ['Node', report.machine.node],
    ['open files limit', String(report.machine.fileLimit)],
    ...Object.entries(report.machine.versions).map(([k, v]) => [k, v])
  ]))
  out.push('')
  const skipped = Object.entries(report.skipped)
  if (skipped.length > 0) {
    out.push('Skipped paths: ' + skipped.map(([id, why]) => `\`${id}\` (${why})`).join(', ') + '.')
    out.push('')
  }
  if (report.failures.length > 0) {
    out.push('Failures:')
    out.push('')
    for (const f of report.failures) out.push(`- ${f.path} rep ${f.rep} ${f.spec}: ${f.error.split('\n', 1)[0]}`)
    out.push('')
  }
  out.push(report.repeatNoisy
    ? 'Windows where other processes used more than 15% of the machine were repeated once; ' +
      '"flagged" counts those that were still noisy after the repeat.'
    : 'Windows where other processes used more than 15% of the machine were not repeated in this run (--quick or --no-repeat); ' +
      '"flagged" counts them.')
  if ((report.quietWaitSeconds ?? 0) > 0) {
    out.push('')
    out.push('Before each window the run waited for other processes to use less than 15% of the machine ' +
      `(${num(report.quietWaitSeconds ?? 0, 0)} s of waiting in all, within a budget).`)
  }
  out.push('')
  return out.join('\n')
}
