import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ClusterConfig } from '../config/config-types.js'

/**
 * A digest of the `app` file's content, so that a reload notices new code
 * behind an unchanged path. Only the file itself is read: a change in a
 * module it imports goes unnoticed (touch the app file, or restart).
 *
 * @example
 * const digest = appDigest(config.app)
 */
export function appDigest (file: string | null): string | null {
  if (file === null) return null
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    // Unreadable now (the config check passed a moment ago): treat it as changed.
    return `unreadable ${Date.now()}`
  }
}

/**
 * Why a reload has to replace the workers instead of updating them in place
 * (R40): what a running Node process cannot take back. The `app` module is
 * imported once per process; turning TLS on or off changes what every new
 * connection is; the log format is chosen when the logger is made. Empty
 * when the workers can apply the config themselves (the plugin may still
 * report changes it cannot apply; those replace the workers too).
 *
 * @example
 * const reasons = replaceReasons(running, next, { running: oldDigest, next: appDigest(next.app) })
 */
export function replaceReasons (running: ClusterConfig, next: ClusterConfig, digests: { running: string | null, next: string | null }): string[] {
  const reasons: string[] = []
  if (running.app !== next.app) reasons.push(`app: ${running.app ?? 'none'} → ${next.app ?? 'none'}`)
  else if (digests.running !== digests.next) reasons.push(`app: ${next.app ?? ''} changed`)
  if ((running.listen.tls === null) !== (next.listen.tls === null)) reasons.push(`listen.tls: TLS turned ${next.listen.tls === null ? 'off' : 'on'}`)
  if (running.log.pretty !== next.log.pretty) reasons.push(`log.pretty: ${String(running.log.pretty)} → ${String(next.log.pretty)}`)
  return reasons
}
