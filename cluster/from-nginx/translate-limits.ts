import type { NginxDirective } from './nginx-parser.js'
import { parseCount } from './nginx-values.js'
import type { TranslationState } from './translation-state.js'

/*
 * Connection limits and the process's file limit: worker_connections,
 * limit_conn_zone + limit_conn, worker_rlimit_nofile. ws-cluster has one
 * `limits` object for the whole cluster, so a limit written in one nginx
 * location applies to every route after the move, and the notes say so.
 */

const CLIENT_ADDRESS_KEYS = ['$binary_remote_addr', '$remote_addr']

function translateWorkerConnections (state: TranslationState, directive: NginxDirective): void {
  const count = directive.args.length === 1 ? parseCount(directive.args[0].value) : null
  if (count === null) {
    state.notes.notTranslated(directive, 'expected "worker_connections N"')
    return
  }
  state.limits.maxConnections = count
  state.notes.mark(directive, 'translated')
  state.notes.note(directive.line, `worker_connections ${count} → limits.maxConnections ${count}: per worker, as in nginx, but ws-cluster counts WebSocket tunnels and handshakes ` +
    'in progress (503 beyond it), while nginx counted every connection, the upstream ones too (about 2 per proxied WebSocket)')
}

function translateZone (state: TranslationState, directive: NginxDirective): void {
  const key = directive.args[0]?.value
  const zone = directive.args.map(a => /^zone=([^:]+)(:.*)?$/.exec(a.value)).find(m => m !== null)
  if (key === undefined || zone === undefined || zone === null) {
    state.notes.notTranslated(directive, 'expected "limit_conn_zone KEY zone=NAME:SIZE"')
    return
  }
  const perClientAddress = CLIENT_ADDRESS_KEYS.includes(key)
  state.limitConnZones.set(zone[1], { perClientAddress, key, line: directive.line })
  if (perClientAddress) state.notes.mark(directive, 'translated')
  else state.notes.notTranslated(directive, `ws-cluster limits connections per client address only (limits.maxConnectionsPerIp); a zone keyed by ${key} has no equivalent`)
}

function translateLimitConn (state: TranslationState, directive: NginxDirective, where: string): void {
  const [zoneName, countText] = directive.args.map(a => a.value)
  const count = countText === undefined || directive.args.length !== 2 ? null : parseCount(countText)
  if (zoneName === undefined || count === null) {
    state.notes.notTranslated(directive, 'expected "limit_conn ZONE N"')
    return
  }
  const zone = state.limitConnZones.get(zoneName)
  if (zone === undefined) {
    state.notes.notTranslated(directive, `zone ${zoneName} is not defined by a limit_conn_zone in this file (an include that was not followed?)`)
    return
  }
  if (!zone.perClientAddress) {
    state.notes.notTranslated(directive, `zone ${zoneName} (line ${zone.line}) is keyed by ${zone.key}, not by the client address`)
    return
  }
  const current = state.limits.maxConnectionsPerIp
  if (current !== undefined && current !== count) {
    state.notes.notTranslated(directive, `ws-cluster has one per-address limit for every route, already ${current} from line ${state.perIpLimitLine ?? '?'}`)
    return
  }
  state.notes.mark(directive, 'translated')
  if (current !== undefined) return
  state.limits.maxConnectionsPerIp = count
  state.perIpLimitLine = directive.line
  state.notes.note(directive.line, `limit_conn ${zoneName} ${count} → limits.maxConnectionsPerIp ${count}: exact per client address (one address always reaches the same worker), ` +
    `counting WebSocket tunnels and handshakes in progress, for every route${where === 'http' ? '' : ` (nginx applied it to this ${where} only)`}`)
}

/**
 * Handles the limit directives at any level (`main`, `events`, `http`,
 * `server`, `location`). Returns false for any other directive.
 */
export function translateLimitDirective (state: TranslationState, directive: NginxDirective, where: string): boolean {
  switch (directive.name) {
    case 'worker_connections':
      translateWorkerConnections(state, directive)
      return true
    case 'limit_conn_zone':
      translateZone(state, directive)
      return true
    case 'limit_conn':
      translateLimitConn(state, directive, where)
      return true
    case 'limit_conn_status':
      if (directive.args[0]?.value === '503') state.notes.mark(directive, 'built in')
      else state.notes.notTranslated(directive, 'ws-cluster always answers 503 beyond a connection limit')
      return true
    case 'limit_conn_log_level':
    case 'limit_conn_dry_run':
      state.notes.notTranslated(directive, 'ws-cluster logs refused connections at warn level and has no dry run')
      return true
    case 'worker_rlimit_nofile': {
      const count = directive.args[0]?.value ?? 'N'
      state.notes.notTranslated(directive, `not a config setting in ws-cluster: raise the open-files limit of the process instead, e.g. \`ulimit -n ${count}\` before ` +
        `\`ws-cluster start\`, or LimitNOFILE=${count} in its systemd unit (every proxied WebSocket holds two file descriptors)`)
      return true
    }
    default:
      return false
  }
}
