import { accessSync, constants, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ResolvedRelay } from './relay-types.js'
import { checkBoolean, checkDuration, checkInteger, checkObject, got, keyPath, type Problems } from './option-checks.js'
import { RELAY_DEFAULTS, RELAY_MAX } from './option-defaults.js'

/**
 * Where the options come from, for what depends on it: relative hook paths
 * resolve from the config file's folder (cluster) or the current directory
 * (plugin), and only the plugin can take a function, since the cluster sends
 * its options to worker processes as JSON.
 */
export interface ValidationContext {
  baseDir: string
  functionHooks: boolean
}

export const PLUGIN_CONTEXT: ValidationContext = { baseDir: process.cwd(), functionHooks: true }

const RELAY_KEYS = ['onMessage', 'hookThreads', 'maxMessageSize', 'rateLimit', 'heartbeat', 'compression'] as const
const SIZE_KEYS = ['fromClient', 'fromUpstream'] as const
const RATE_KEYS = ['messages', 'per'] as const
const HEARTBEAT_KEYS = ['interval', 'timeout'] as const
const COMPRESSION_KEYS = ['client', 'upstream'] as const

/** The relay options of a relay route that has no `relay` group. */
export function defaultRelay (): ResolvedRelay {
  const size = RELAY_DEFAULTS.maxMessageSize
  const compress = RELAY_DEFAULTS.compression
  return {
    onMessage: null,
    hookThreads: RELAY_DEFAULTS.hookThreads,
    maxMessageSize: { fromClient: size, fromUpstream: size },
    rateLimit: null,
    heartbeat: null,
    compression: { client: compress, upstream: compress }
  }
}

/** The hook: a function where allowed, else a module file that exists and can be read, made absolute. */
function resolveHook (value: unknown, path: string, ctx: ValidationContext, problems: Problems): ResolvedRelay['onMessage'] | undefined {
  const modulePath = ctx.functionHooks ? 'a function, or the path of an ES module exporting onMessage' : 'the path of an ES module exporting onMessage (relative to the config file)'
  if (typeof value === 'function') {
    if (ctx.functionHooks) return value as ResolvedRelay['onMessage']
    problems.push({ path, message: `${got(value, modulePath)}; worker processes cannot receive a function` })
    return undefined
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push({ path, message: got(value, modulePath) })
    return undefined
  }
  const absolute = value.startsWith('file:') ? fileURLToPath(value) : isAbsolute(value) ? value : resolve(ctx.baseDir, value)
  try {
    if (!statSync(absolute).isFile()) {
      problems.push({ path, message: `"${absolute}" is not a file; allowed: ${modulePath}` })
      return undefined
    }
    accessSync(absolute, constants.R_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message
    problems.push({ path, message: `cannot read "${absolute}": ${reason} (${code}); allowed: ${modulePath}` })
    return undefined
  }
  return absolute
}

function resolveSizes (value: unknown, path: string, problems: Problems): ResolvedRelay['maxMessageSize'] | undefined {
  const max = RELAY_MAX.maxMessageSize
  if (typeof value === 'number') {
    const size = checkInteger(value, path, 1, max, problems)
    return size === undefined ? undefined : { fromClient: size, fromUpstream: size }
  }
  const shape = `a number of bytes from 1 to ${max}, or { fromClient?, fromUpstream? }`
  if (!checkObject(value, path, SIZE_KEYS, problems, shape)) return undefined
  const sizes = { fromClient: RELAY_DEFAULTS.maxMessageSize, fromUpstream: RELAY_DEFAULTS.maxMessageSize }
  for (const key of SIZE_KEYS) {
    if (value[key] !== undefined) sizes[key] = checkInteger(value[key], keyPath(path, key), 1, max, problems) ?? sizes[key]
  }
  return sizes
}

function positiveDuration (value: unknown, path: string, problems: Problems): number | undefined {
  const ms = checkDuration(value, path, problems)
  if (ms === 0) problems.push({ path, message: got(value, 'a duration above 0') })
  return ms === 0 ? undefined : ms
}

function resolveRate (value: unknown, path: string, problems: Problems): ResolvedRelay['rateLimit'] | undefined {
  if (!checkObject(value, path, RATE_KEYS, problems, 'an object { messages, per }, e.g. { "messages": 100, "per": "1s" }')) return undefined
  if (value.messages === undefined) problems.push({ path: keyPath(path, 'messages'), message: `is required: an integer from 1 to ${RELAY_MAX.rateMessages}` })
  if (value.per === undefined) problems.push({ path: keyPath(path, 'per'), message: 'is required: a duration above 0, e.g. "1s"' })
  const messages = value.messages === undefined ? undefined : checkInteger(value.messages, keyPath(path, 'messages'), 1, RELAY_MAX.rateMessages, problems)
  const per = value.per === undefined ? undefined : positiveDuration(value.per, keyPath(path, 'per'), problems)
  return messages === undefined || per === undefined ? undefined : { messages, per }
}

function resolveHeartbeat (value: unknown, path: string, problems: Problems): ResolvedRelay['heartbeat'] | undefined {
  if (!checkObject(value, path, HEARTBEAT_KEYS, problems, 'an object { interval, timeout? }, e.g. { "interval": "30s", "timeout": "10s" }')) return undefined
  if (value.interval === undefined) {
    problems.push({ path: keyPath(path, 'interval'), message: 'is required: a duration above 0, e.g. "30s"' })
    return undefined
  }
  const interval = positiveDuration(value.interval, keyPath(path, 'interval'), problems)
  const timeout = value.timeout === undefined
    ? Math.min(RELAY_DEFAULTS.heartbeatTimeout, interval ?? Infinity)
    : positiveDuration(value.timeout, keyPath(path, 'timeout'), problems)
  if (interval === undefined || timeout === undefined) return undefined
  if (timeout > interval) {
    problems.push({ path: keyPath(path, 'timeout'), message: got(value.timeout, `a duration above 0 and at most the interval (${interval} ms): a pong is awaited before the next ping`) })
    return undefined
  }
  return { interval, timeout }
}

function resolveCompression (value: unknown, path: string, problems: Problems): ResolvedRelay['compression'] | undefined {
  if (typeof value === 'boolean') return { client: value, upstream: value }
  if (!checkObject(value, path, COMPRESSION_KEYS, problems, 'true, false, or { client?, upstream? }')) return undefined
  const sides = { client: RELAY_DEFAULTS.compression as boolean, upstream: RELAY_DEFAULTS.compression as boolean }
  for (const key of COMPRESSION_KEYS) {
    if (value[key] !== undefined) sides[key] = checkBoolean(value[key], keyPath(path, key), problems) ?? sides[key]
  }
  return sides
}

/**
 * `routes[i].relay`: the hook, limits, heartbeats and compression of a relay
 * route, defaults applied. Problems are added to `problems`; undefined when
 * there were any.
 */
export function resolveRelay (value: unknown, path: string, ctx: ValidationContext, problems: Problems): ResolvedRelay | undefined {
  const relay = defaultRelay()
  if (value === undefined) return relay
  if (!checkObject(value, path, RELAY_KEYS, problems)) return undefined
  const before = problems.length
  if (value.onMessage !== undefined) relay.onMessage = resolveHook(value.onMessage, keyPath(path, 'onMessage'), ctx, problems) ?? null
  if (value.hookThreads !== undefined) relay.hookThreads = checkInteger(value.hookThreads, keyPath(path, 'hookThreads'), 1, RELAY_MAX.hookThreads, problems) ?? relay.hookThreads
  if (value.maxMessageSize !== undefined) relay.maxMessageSize = resolveSizes(value.maxMessageSize, keyPath(path, 'maxMessageSize'), problems) ?? relay.maxMessageSize
  if (value.rateLimit !== undefined) relay.rateLimit = resolveRate(value.rateLimit, keyPath(path, 'rateLimit'), problems) ?? null
  if (value.heartbeat !== undefined) relay.heartbeat = resolveHeartbeat(value.heartbeat, keyPath(path, 'heartbeat'), problems) ?? null
  if (value.compression !== undefined) relay.compression = resolveCompression(value.compression, keyPath(path, 'compression'), problems) ?? relay.compression
  return problems.length > before ? undefined : relay
}
