import { InvalidOptionError } from '../errors.js'
import type { ResolvedOptions } from './options-types.js'
import { checkBoolean, checkDuration, checkInteger, checkObject, got, isPlainObject, type OptionProblem, type Problems } from './option-checks.js'
import { COUNT_MAX, LIMIT_DEFAULTS, TOP_DEFAULTS } from './option-defaults.js'
import { EDGE_LIMIT_KEYS, resolveConnectionRate, resolveIpv6Prefix } from './validate-edge-limits.js'
import { resolveRoutes } from './validate-routes.js'
import { resolveUpstreams } from './validate-upstreams.js'
import { PLUGIN_CONTEXT, type ValidationContext } from './validate-relay.js'

/** The option keys the cluster's config file shares with the plugin, validated here for both. */
export const PROXY_KEYS = ['upstreams', 'routes', 'limits'] as const
const TOP_KEYS = [...PROXY_KEYS, 'shutdownTimeout', 'closeSpread', 'accessLog'] as const
// Keys Fastify itself passes to every plugin.
const FASTIFY_REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const
const COUNT_KEYS = ['maxConnections', 'maxConnectionsPerIp', 'maxUrlLength'] as const
const LIMIT_KEYS = [...COUNT_KEYS, ...EDGE_LIMIT_KEYS] as const

function resolveLimits (value: unknown, problems: Problems): ResolvedOptions['limits'] {
  const limits: ResolvedOptions['limits'] = { ...LIMIT_DEFAULTS }
  if (value === undefined) return limits
  if (!checkObject(value, 'limits', LIMIT_KEYS, problems, `an object { ${LIMIT_KEYS.map(key => `${key}?`).join(', ')} }`)) return limits
  const bounds = { maxConnections: [0, COUNT_MAX], maxConnectionsPerIp: [0, COUNT_MAX], maxUrlLength: [16, 1_048_576] } as const
  for (const key of COUNT_KEYS) {
    if (value[key] === undefined) continue
    limits[key] = checkInteger(value[key], `limits.${key}`, bounds[key][0], bounds[key][1], problems) ?? limits[key]
  }
  limits.connectionRate = resolveConnectionRate(value.connectionRate, problems) ?? null
  if (value.ipv6Prefix !== undefined) limits.ipv6Prefix = resolveIpv6Prefix(value.ipv6Prefix, problems) ?? limits.ipv6Prefix
  return limits
}

/**
 * Validates `upstreams`, `routes` and `limits`, the part of the options the
 * cluster's config file shares with the plugin, and resolves them (defaults
 * applied, durations in ms). Problems are added to `problems`; the cluster
 * checks its own keys around this, so both report the same path and message
 * for the same mistake. `ctx` says where relative hook paths resolve from
 * and whether hooks may be functions (see {@link ValidationContext}).
 */
export function resolveProxyOptions (
  input: Record<string, unknown>, problems: Problems, ctx: ValidationContext = PLUGIN_CONTEXT
): Pick<ResolvedOptions, 'upstreams' | 'routes' | 'limits'> {
  const { names, upstreams } = resolveUpstreams(input.upstreams, problems, ctx)
  const routes = resolveRoutes(input.routes, names, problems, ctx)
  const limits = resolveLimits(input.limits, problems)
  return { upstreams, routes, limits }
}

/**
 * Validates the plugin options and applies defaults: the resolved options,
 * or every problem found, each `{ path, message }` (`routes[1].upstream`,
 * `got "chat2"; allowed: …`).
 *
 * @example
 * const { options, problems } = validateOptions({ upstreams: { a: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'a' }] })
 */
export function validateOptions (raw: unknown): { options: ResolvedOptions | null, problems: OptionProblem[] } {
  const problems: OptionProblem[] = []
  if (!isPlainObject(raw)) {
    problems.push({ path: 'options', message: got(raw, 'an object { upstreams, routes, ... }') })
    return { options: null, problems }
  }
  checkObject(raw, '', [...TOP_KEYS, ...FASTIFY_REGISTER_KEYS], problems)
  if (raw.prefix !== undefined) problems.push({ path: 'prefix', message: got(raw.prefix, 'no prefix: route paths are absolute') })
  const proxy = resolveProxyOptions(raw, problems)
  const shutdownTimeout = raw.shutdownTimeout === undefined ? TOP_DEFAULTS.shutdownTimeout : checkDuration(raw.shutdownTimeout, 'shutdownTimeout', problems)
  const closeSpread = raw.closeSpread === undefined ? TOP_DEFAULTS.closeSpread : checkDuration(raw.closeSpread, 'closeSpread', problems)
  const accessLog = raw.accessLog === undefined ? TOP_DEFAULTS.accessLog : checkBoolean(raw.accessLog, 'accessLog', problems)
  if (problems.length > 0 || shutdownTimeout === undefined || closeSpread === undefined || accessLog === undefined) return { options: null, problems }
  return { options: { ...proxy, shutdownTimeout, closeSpread, accessLog }, problems }
}

/**
 * Validates the plugin options and applies defaults. Throws
 * `WS_CLUSTER_INVALID_OPTION` when anything is wrong: its message names the
 * first problem (option path, the bad value, what is allowed) and how many
 * more there are, and its `problems` lists them all, so a typo fails at
 * registration rather than at the first client.
 *
 * @example
 * const options = resolveOptions({ upstreams: { a: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'a' }] })
 */
export function resolveOptions (raw: unknown): ResolvedOptions {
  const { options, problems } = validateOptions(raw)
  if (options !== null) return options
  const [first, ...rest] = problems
  const more = rest.length === 0 ? '' : ` (and ${rest.length} more: ${rest.map(p => `${p.path}: ${p.message}`).join(' | ')})`
  const err = new InvalidOptionError(first.path, first.message + more) as InstanceType<typeof InvalidOptionError> & { problems: OptionProblem[] }
  err.problems = problems
  throw err
}
