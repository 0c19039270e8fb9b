import type { BalanceMethod, LimitsOptions, RouteOptions, UpstreamServerOptions } from '../../plugin/index.js'
import type { ListenOptions } from '../config/config-types.js'
import { TranslationNotes } from './translation-notes.js'

/** An upstream `server` before its scheme is known (the `proxy_pass` that uses the group decides http or https). */
export interface ServerDraft {
  host: string
  port: number
  options: Omit<UpstreamServerOptions, 'url'>
}

/** An upstream group being built: from an nginx `upstream` block, or generated for a `proxy_pass` to an address. */
export interface UpstreamDraft {
  name: string
  line: number
  balance?: BalanceMethod
  hashKey?: string
  servers: ServerDraft[]
  keepalive?: number
  /** Set by the first `proxy_pass` that uses the group. */
  scheme?: 'http' | 'https'
  /** Made for a `proxy_pass` to an address rather than written as an nginx `upstream`. */
  generated: boolean
}

/** A `limit_conn_zone`: only zones keyed by the client address can become `maxConnectionsPerIp`. */
export interface LimitConnZone {
  perClientAddress: boolean
  key: string
  line: number
}

/**
 * Everything the translators of the different nginx contexts share: the
 * notes, the upstream groups, what `map` and `limit_conn_zone` defined, and
 * the top-level settings found so far.
 */
export class TranslationState {
  readonly notes = new TranslationNotes()
  readonly upstreams = new Map<string, UpstreamDraft>()
  readonly routes: RouteOptions[] = []
  /** Variables defined by `map $http_upgrade $NAME { ... }`: the upgrade map ws-cluster has built in. */
  readonly upgradeMapVariables = new Set<string>()
  readonly limitConnZones = new Map<string, LimitConnZone>()
  readonly limits: LimitsOptions = {}
  workers?: 'auto' | number
  shutdownTimeout?: string
  listen?: ListenOptions
  /** The line of the `limit_conn` that set maxConnectionsPerIp, named when a different one has to be reported. */
  perIpLimitLine?: number

  /**
   * The upstream group a `proxy_pass` to an address uses, named like nginx's
   * implicit upstream (`127.0.0.1:9001`, or the host alone without a port).
   */
  generatedUpstream (host: string, port: number, portWritten: boolean, line: number): UpstreamDraft {
    const base = portWritten ? `${host.includes(':') ? `[${host}]` : host}:${port}` : host
    let name = base
    for (let i = 2; this.upstreams.has(name) && !(this.upstreams.get(name) as UpstreamDraft).generated; i++) name = `${base}-${i}`
    const existing = this.upstreams.get(name)
    if (existing !== undefined) return existing
    const draft: UpstreamDraft = { name, line, servers: [{ host, port, options: {} }], generated: true }
    this.upstreams.set(name, draft)
    return draft
  }
}
