import type { ReloadOutcome } from '../primary/admin-server.js'

function duration (ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${Math.round(ms / 100) / 10}s`
}

/**
 * What `ws-cluster reload` prints when the reload succeeded: which kind it
 * was (in place, or replacing workers) and why, what changed, which
 * connections it is closing, and what waits for a restart.
 *
 * @example
 * process.stdout.write(formatReload(outcome))
 */
export function formatReload (outcome: ReloadOutcome): string {
  const lines: string[] = []
  if (outcome.kind === 'replaced') {
    lines.push(`reloaded by replacing workers: ${outcome.replaced ?? 0} worker(s) replaced; ` +
      `the old ones keep their open connections until those end or drainTimeout (${duration(outcome.drainTimeout ?? 0)})`)
    for (const reason of outcome.reasons ?? []) lines.push(`  because ${reason}`)
  } else {
    lines.push(`reloaded in place: ${outcome.updated ?? 0} worker(s) applied the new config; open connections kept`)
  }
  for (const { path, change } of outcome.changes ?? []) lines.push(`  changed ${path}: ${change}`)
  if ((outcome.changes ?? []).length === 0 && outcome.kind !== 'replaced') lines.push('  nothing changed')
  if ((outcome.closing ?? 0) > 0) {
    lines.push(`  closing ${outcome.closing ?? 0} connection(s) whose server was removed or marked down (1012, spread over closeSpread)`)
  }
  if ((outcome.restartOnly ?? []).length > 0) lines.push(`  not applied until a restart: ${(outcome.restartOnly ?? []).join(', ')}`)
  return lines.join('\n') + '\n'
}
