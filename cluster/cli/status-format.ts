import type { StatusReport } from '../status-report.js'

function duration (seconds: number): string {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`
}

function table (rows: string[][]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] as number)).join('  ').trimEnd())
}

function time (ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString()
}

/** One host-name server: what it resolves to, when, and what went wrong last. */
function dnsLines (name: NonNullable<StatusReport['upstreams'][string]['dns']>[number]): string[] {
  const count = `${name.addresses.length} address${name.addresses.length === 1 ? '' : 'es'}`
  const lines = [`  dns ${name.name}${name.type === 'srv' ? ' (SRV)' : ''}: ${count}, resolved ${time(name.resolvedAt)}` +
    `${name.ttl === null ? '' : `, ttl ${name.ttl}s`}, next ${time(name.nextResolveAt)}`]
  if (name.lastError !== null) {
    lines.push(`    last error ${name.lastError.code} at ${time(name.lastError.at)}: ${name.lastError.message}` +
      (name.addresses.length > 0 ? ' (keeping the last good addresses)' : ''))
  }
  return lines
}

/**
 * `ws-cluster status` for people: the cluster line, nginx stub_status-like
 * counters, one row per worker and per upstream server.
 *
 * @example
 * process.stdout.write(formatStatus(report))
 */
export function formatStatus (report: StatusReport): string {
  const lines: string[] = []
  const flags = [report.listen.tls ? 'tls' : null, report.listen.proxyProtocol ? 'proxy protocol' : null].filter((f) => f !== null)
  lines.push(`ws-cluster pid ${report.pid}, ${report.state}, up ${duration(report.uptimeSeconds)}` +
    (report.configFile === null ? '' : `, config ${report.configFile}`))
  lines.push(`listening on ${report.listen.host}:${report.listen.port}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`)
  const c = report.connections
  lines.push(`connections: active ${c.active}, reading ${c.reading}, accepted ${c.accepted}, handled ${c.handled}, requests ${c.requests}, tunnels open ${c.tunnelsOpen}, refused ${c.refused}, refused by hooks ${c.refusedByHooks}`)
  const p = report.primary
  lines.push(`primary: accepted ${p.accepted}, handed off ${p.handedOff}, in flight ${p.inFlight}, waiting ${p.waiting}, dropped ${p.dropped}, worker restarts ${p.restarts}, unresponsive workers replaced ${p.unresponsive}`)
  if (p.proxyHeaders !== null) {
    const r = p.proxyHeaders.refused
    lines.push(`proxy headers: pending ${p.proxyHeaders.pending}, refused invalid ${r.invalid}, timeout ${r.timeout}, closed ${r.closed}, too many pending ${r['too-many-pending']}`)
  }
  // Older primaries answer without it.
  const draining = report.draining ?? { workers: 0, tunnelsOpen: 0 }
  if (draining.workers > 0) lines.push(`draining: ${draining.workers} old worker(s) with ${draining.tunnelsOpen} tunnel(s) still open`)
  lines.push('')
  const workerRows = [['SLOT', 'PID', 'STATE', 'UPTIME', 'QUEUED', 'ACTIVE', 'TUNNELS', 'REQUESTS']]
  for (const w of report.workers) {
    const figures = w.connections
    workerRows.push([String(w.slot), String(w.pid), w.state, duration(w.uptimeSeconds),
      w.queue === null ? '-' : String(w.queue.inFlight + w.queue.waiting),
      figures === null ? '-' : String(figures.active), figures === null ? '-' : String(figures.tunnelsOpen),
      figures === null ? '-' : String(figures.requests)])
  }
  lines.push(...table(workerRows))
  for (const [name, group] of Object.entries(report.upstreams)) {
    lines.push('', `upstream ${name} (${group.balance})`)
    const rows = [['  SERVER', 'STATE', 'ACTIVE', 'TOTAL', 'FAILURES', 'WORKERS UP/FAILED/DOWN']]
    for (const s of group.servers) {
      const state = s.state === 'failed' && s.failedUntil !== null ? `failed until ${new Date(s.failedUntil).toISOString()}` : s.state
      const flags = [s.backup ? 'backup' : null, s.draining === true ? 'removed by DNS, draining' : null].filter((f) => f !== null)
      rows.push([`  ${s.url}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`, state, String(s.active), String(s.total), String(s.failures),
        `${s.workers.up}/${s.workers.failed}/${s.workers.down}`])
    }
    lines.push(...table(rows))
    for (const name of group.dns ?? []) lines.push(...dnsLines(name))
  }
  return lines.join('\n') + '\n'
}
