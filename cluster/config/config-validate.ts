import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import {
  checkBoolean, checkDuration, checkEnum, checkInteger, checkObject, checkString, got, indexPath,
  PLUGIN_DEFAULTS, PROXY_KEYS, resolveProxyOptions, type LimitsOptions, type OptionProblem, type Problems, type RouteOptions, type UpstreamOptions
} from '../../plugin/internal.js'
import type { ClusterConfig, LogOptions } from './config-types.js'
import { checkPort, checkReadableFile, checkTlsPair } from './config-file-checks.js'
import { LOOPBACK_PROXIES, trustEntryProblem } from './trusted-proxies.js'

/** A problem of the config file: the plugin's `{ path, message }`, with the same path and message the plugin reports. */
export type ConfigProblem = OptionProblem

/** Defaults, documented in the README: the client port of nginx examples' backends, a separate admin port. */
export const DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  adminPort: 9090,
  adminHost: '127.0.0.1',
  shutdownTimeout: '30s',
  /** Like nginx's `worker_shutdown_timeout` (unset there: old workers wait forever); long enough for real sessions. */
  drainTimeout: '4h',
  headersTimeout: '60s',
  heartbeatTimeout: '10s',
  logLevel: 'info',
  workersMax: 1024,
  maxPendingProxyHeaders: 1024
} as const

export const LOG_LEVELS: ReadonlyArray<NonNullable<LogOptions['level']>> = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** The cluster's own keys, besides the plugin's (upstreams, routes, limits), which the plugin's validator checks. */
const CLUSTER_KEYS = ['listen', 'workers', 'admin', 'shutdownTimeout', 'drainTimeout', 'closeSpread', 'headersTimeout', 'heartbeatTimeout', 'log', 'app'] as const
const TOP_KEYS = [...PROXY_KEYS.slice(0, 2), 'listen', 'workers', PROXY_KEYS[2], ...CLUSTER_KEYS.slice(2)] as const
const LISTEN_KEYS = ['port', 'host', 'tls', 'proxyProtocol', 'trustedProxies', 'maxPendingProxyHeaders'] as const
const TLS_KEYS = ['cert', 'key'] as const
const ADMIN_KEYS = ['port', 'host'] as const
const LOG_KEYS = ['level', 'pretty'] as const

export const WORKERS_ALLOWED = `"auto" (one per CPU: os.availableParallelism()) or an integer from 1 to ${DEFAULTS.workersMax}`

/** `'auto'` → the CPU count, like nginx `worker_processes auto`. */
export function checkWorkers (value: unknown, path: string, problems: Problems): number | undefined {
  if (value === 'auto') return availableParallelism()
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= DEFAULTS.workersMax) return value
  problems.push({ path, message: got(value, WORKERS_ALLOWED) })
  return undefined
}

function checkListen (value: unknown, baseDir: string, problems: Problems): ClusterConfig['listen'] {
  const listen: ClusterConfig['listen'] = { port: DEFAULTS.port, host: DEFAULTS.host, tls: null, proxyProtocol: false, trustedProxies: [], maxPendingProxyHeaders: DEFAULTS.maxPendingProxyHeaders }
  if (value === undefined || !checkObject(value, 'listen', LISTEN_KEYS, problems)) return listen
  if (value.port !== undefined) listen.port = checkPort(value.port, 'listen.port', problems) ?? listen.port
  if (value.host !== undefined) listen.host = checkString(value.host, 'listen.host', 'an IP address or host name to bind', problems) ?? listen.host
  if (value.tls !== undefined && checkObject(value.tls, 'listen.tls', TLS_KEYS, problems)) {
    const missing = TLS_KEYS.filter(key => value.tls !== undefined && (value.tls as Record<string, unknown>)[key] === undefined)
    for (const key of missing) problems.push({ path: `listen.tls.${key}`, message: 'is required: a PEM file path (relative to the config file)' })
    const cert = value.tls.cert === undefined ? undefined : checkReadableFile(value.tls.cert, 'listen.tls.cert', baseDir, problems)
    const key = value.tls.key === undefined ? undefined : checkReadableFile(value.tls.key, 'listen.tls.key', baseDir, problems)
    if (cert !== undefined && key !== undefined && checkTlsPair(cert, key, problems)) listen.tls = { cert, key }
  }
  if (value.proxyProtocol !== undefined) listen.proxyProtocol = checkBoolean(value.proxyProtocol, 'listen.proxyProtocol', problems) ?? false
  if (value.trustedProxies !== undefined) {
    if (!Array.isArray(value.trustedProxies)) {
      problems.push({ path: 'listen.trustedProxies', message: got(value.trustedProxies, 'an array of IP addresses or CIDR ranges') })
    } else {
      value.trustedProxies.forEach((entry, i) => {
        const problem = trustEntryProblem(entry)
        if (problem !== null) problems.push({ path: indexPath('listen.trustedProxies', i), message: problem })
        else listen.trustedProxies.push(entry as string)
      })
    }
  }
  if (value.maxPendingProxyHeaders !== undefined) {
    listen.maxPendingProxyHeaders = checkInteger(value.maxPendingProxyHeaders, 'listen.maxPendingProxyHeaders', 1, 1_000_000, problems) ?? listen.maxPendingProxyHeaders
  }
  if (listen.proxyProtocol && listen.trustedProxies.length === 0) listen.trustedProxies = [...LOOPBACK_PROXIES]
  return listen
}

function checkAdmin (value: unknown, problems: Problems): ClusterConfig['admin'] {
  const admin: { port: number, host: string } = { port: DEFAULTS.adminPort, host: DEFAULTS.adminHost }
  if (value === false) return null
  if (value === undefined) return admin
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path: 'admin', message: got(value, 'an object { "port", "host" }, or false to turn the admin listener off') })
    return admin
  }
  if (!checkObject(value, 'admin', ADMIN_KEYS, problems)) return admin
  if (value.port !== undefined) admin.port = checkPort(value.port, 'admin.port', problems) ?? admin.port
  if (value.host !== undefined) admin.host = checkString(value.host, 'admin.host', 'an IP address or host name to bind', problems) ?? admin.host
  return admin
}

function checkLog (value: unknown, problems: Problems): ClusterConfig['log'] {
  const log: ClusterConfig['log'] = { level: DEFAULTS.logLevel, pretty: false }
  if (value === undefined || !checkObject(value, 'log', LOG_KEYS, problems)) return log
  if (value.level !== undefined) log.level = checkEnum(value.level, 'log.level', LOG_LEVELS, problems) ?? log.level
  if (value.pretty !== undefined) log.pretty = checkBoolean(value.pretty, 'log.pretty', problems) ?? false
  return log
}

/**
 * The routes as the workers get them: a relay hook path relative to the
 * config file is replaced by the absolute path the validator resolved, since
 * workers do not know where the file was. Only called without problems, so
 * `resolved` lines up with `routes`.
 */
function withAbsoluteHooks (routes: RouteOptions[], resolved: ReadonlyArray<{ relay: { onMessage: unknown } | null }>): RouteOptions[] {
  return routes.map((route, i) => {
    const hook = resolved[i]?.relay?.onMessage
    return typeof hook === 'string' && route.relay !== undefined ? { ...route, relay: { ...route.relay, onMessage: hook } } : route
  })
}

/**
 * The upstream groups as the workers get them: a `tls.ca` file named
 * relative to the config file is replaced by the certificates the validator
 * read from it (PEM text), since workers do not know where the file was.
 */
function withLoadedCa (upstreams: Record<string, UpstreamOptions>, resolved: ReadonlyMap<string, { tls: { ca: string[] | null } }>): Record<string, UpstreamOptions> {
  return Object.fromEntries(Object.entries(upstreams).map(([name, group]) => {
    const ca = resolved.get(name)?.tls.ca
    return [name, group.tls?.ca === undefined || ca === null || ca === undefined ? group : { ...group, tls: { ...group.tls, ca } }]
  }))
}

/**
 * Checks that the listener and the admin listener do not collide; run again
 * after env/flag overrides, since those can create the collision.
 */
export function crossCheck (config: ClusterConfig): ConfigProblem[] {
  const { listen, admin } = config
  if (admin === null || admin.port === 0 || admin.port !== listen.port) return []
  return [{ path: 'admin.port', message: `${admin.port} is also listen.port; the admin listener needs its own port (or "admin": false)` }]
}

/**
 * Validates a parsed config file (JSON, or the default export of a .mjs/.js
 * file) and returns it with defaults applied and paths made absolute, or
 * every problem found, each with its path (`routes[1].upstream`). `file` is
 * where relative paths (`app`, `listen.tls.*`) are resolved from; without a
 * file they are resolved from the current directory.
 *
 * @example
 * const { config, problems } = validateConfig(JSON.parse(text), '/etc/ws-cluster.config.json')
 * for (const p of problems) console.error(`${p.path}: ${p.message}`)
 */
export function validateConfig (input: unknown, file: string | null): { config: ClusterConfig | null, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  if (!checkObject(input, '', TOP_KEYS, problems)) {
    problems[problems.length - 1].path = '(root)'
    return { config: null, problems }
  }
  const baseDir = file === null ? process.cwd() : dirname(file)
  // The plugin's own validator: the workers register the plugin with exactly these options (hooks as files, made absolute).
  const proxy = resolveProxyOptions(input, problems, { baseDir, functionHooks: false })
  const listen = checkListen(input.listen, baseDir, problems)
  const workers = input.workers === undefined ? availableParallelism() : checkWorkers(input.workers, 'workers', problems)
  const admin = checkAdmin(input.admin, problems)
  const shutdownTimeout = checkDuration(input.shutdownTimeout === undefined ? DEFAULTS.shutdownTimeout : input.shutdownTimeout, 'shutdownTimeout', problems)
  const drainTimeout = checkDuration(input.drainTimeout === undefined ? DEFAULTS.drainTimeout : input.drainTimeout, 'drainTimeout', problems)
  const closeSpread = checkDuration(input.closeSpread === undefined ? PLUGIN_DEFAULTS.closeSpread : input.closeSpread, 'closeSpread', problems)
  const headersTimeout = checkDuration(input.headersTimeout === undefined ? DEFAULTS.headersTimeout : input.headersTimeout, 'headersTimeout', problems)
  if (headersTimeout === 0) problems.push({ path: 'headersTimeout', message: got(input.headersTimeout, 'a duration above 0: a connection that never sends a request must not stay open forever') })
  const heartbeatTimeout = checkDuration(input.heartbeatTimeout === undefined ? DEFAULTS.heartbeatTimeout : input.heartbeatTimeout, 'heartbeatTimeout', problems)
  if (heartbeatTimeout !== undefined && heartbeatTimeout !== 0 && heartbeatTimeout < 1000) {
    problems.push({ path: 'heartbeatTimeout', message: got(input.heartbeatTimeout, 'a duration of at least 1s (a busy worker must not be taken for a hung one), or 0 to turn the check off') })
  }
  const log = checkLog(input.log, problems)
  const app = input.app === undefined ? null : checkReadableFile(input.app, 'app', baseDir, problems)
  if (problems.length > 0 || workers === undefined || shutdownTimeout === undefined || drainTimeout === undefined || closeSpread === undefined ||
    headersTimeout === undefined || heartbeatTimeout === undefined || app === undefined) {
    return { config: null, problems }
  }
  const config: ClusterConfig = {
    upstreams: withLoadedCa(input.upstreams as Record<string, UpstreamOptions>, proxy.upstreams),
    routes: withAbsoluteHooks(input.routes as RouteOptions[], proxy.routes),
    listen,
    workers,
    limits: (input.limits ?? {}) as LimitsOptions,
    admin,
    shutdownTimeout,
    drainTimeout,
    closeSpread,
    headersTimeout,
    heartbeatTimeout,
    log,
    app,
    file
  }
  const collisions = crossCheck(config)
  return collisions.length === 0 ? { config, problems: [] } : { config: null, problems: collisions }
}
