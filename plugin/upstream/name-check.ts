import { resolveUpstreams } from '../options/validate-upstreams.js'
import { needsResolution } from '../options/validate-dns.js'
import { UPSTREAM_DEFAULTS } from '../options/option-defaults.js'
import type { ResolvedServer, ResolvedUpstream } from '../options/options-types.js'
import { indexPath, keyPath } from '../options/option-checks.js'
import { errorCode, NameLookup } from './name-lookup.js'

/** A host-name server that does not resolve now: worth a warning, not a refusal. */
export interface NameWarning {
  /** The option path of the server (`upstreams.chat.servers[0]`). */
  path: string
  message: string
}

/** How long `check` waits for one name. */
const CHECK_TIMEOUT_MS = 5000

async function addressCount (lookup: NameLookup, server: ResolvedServer): Promise<number> {
  if (server.srv === true) {
    const { targets } = await lookup.srv(server.host)
    return targets.reduce((sum, target) => sum + target.addresses.length, 0)
  }
  return (await lookup.addresses(server.host)).addresses.length
}

async function checkServer (group: ResolvedUpstream, index: number, server: ResolvedServer): Promise<NameWarning | null> {
  const lookup = new NameLookup(group.resolver ?? null)
  const path = indexPath(keyPath(keyPath('upstreams', group.name), 'servers'), index)
  const interval = (group.resolveInterval ?? UPSTREAM_DEFAULTS.resolveInterval) / 1000
  const later = `ws-cluster keeps resolving it every ${interval}s; until it resolves it gives the group no server`
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), CHECK_TIMEOUT_MS) })
  try {
    const count = await Promise.race([addressCount(lookup, server), timeout])
    if (count === 'timeout') return { path, message: `"${server.host}" did not resolve within ${CHECK_TIMEOUT_MS / 1000}s; ${later}` }
    return count > 0 ? null : { path, message: `"${server.host}" resolves to no address now; ${later}` }
  } catch (err) {
    return { path, message: `"${server.host}" does not resolve now (${errorCode(err)}); ${later}` }
  } finally {
    clearTimeout(timer)
    lookup.cancel()
  }
}

/**
 * `ws-cluster check` resolves each server given by host name once, as
 * `start` would, and lists those that do not resolve now. A name that is
 * missing at check time may well exist where and when the cluster runs
 * (a Kubernetes Service before its pods), so these are warnings (R49).
 * Upstream groups with problems are skipped: the validator reports those.
 *
 * @example
 * for (const w of await checkUpstreamNames(config.upstreams)) console.error(`warning: ${w.path}: ${w.message}`)
 */
export async function checkUpstreamNames (upstreams: unknown): Promise<NameWarning[]> {
  const { upstreams: groups } = resolveUpstreams(upstreams, [])
  const checks: Array<Promise<NameWarning | null>> = []
  for (const group of groups.values()) {
    group.servers.forEach((server, index) => {
      if (needsResolution(server)) checks.push(checkServer(group, index, server))
    })
  }
  return (await Promise.all(checks)).filter((warning): warning is NameWarning => warning !== null)
}
