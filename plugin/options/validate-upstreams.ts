import type { ResolvedHashKey, ResolvedServer, ResolvedUpstream } from './options-types.js'
import { describeValue } from './duration.js'
import {
  checkBoolean, checkDuration, checkEnum, checkInteger, checkObject, checkRecord, got, indexPath, keyPath, type Problems
} from './option-checks.js'
import { BALANCE_METHODS, COUNT_MAX, SERVER_DEFAULTS, UPSTREAM_DEFAULTS } from './option-defaults.js'
import { checkSrvServer, resolveDnsOptions } from './validate-dns.js'

import { resolveUpstreamTls } from './validate-upstream-tls.js'
import { PLUGIN_CONTEXT, type ValidationContext } from './validate-relay.js'

const UPSTREAM_KEYS = ['balance', 'hashKey', 'servers', 'keepalive', 'resolveInterval', 'resolver', 'tls'] as const
const SERVER_KEYS = ['url', 'weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down', 'srv'] as const
const URL_ALLOWED = 'an absolute http:// or https:// URL with a host, such as "http://127.0.0.1:9001"'
const SERVERS_ALLOWED = 'a non-empty array of server URLs or { url, weight, ... } objects'
const HASH_KEY_ALLOWED = '"remote-addr", "header:NAME", "query:NAME" or "cookie:NAME"'

type ServerAddress = Pick<ResolvedServer, 'url' | 'protocol' | 'host' | 'port'>

/** `protocol//host:port` and its parts for a good server URL (the path part is ignored), else undefined. */
function resolveServerUrl (value: unknown, path: string, problems: Problems): ServerAddress | undefined {
  let url: URL | null = null
  if (typeof value === 'string') {
    try {
      url = new URL(value)
    } catch {}
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    problems.push({ path, message: got(value, URL_ALLOWED) })
    return undefined
  }
  const protocol = url.protocol
  return {
    url: `${protocol}//${url.host}`,
    protocol,
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port)
  }
}

function resolveServer (value: unknown, path: string, problems: Problems): ResolvedServer | undefined {
  if (typeof value === 'string') {
    const address = resolveServerUrl(value, path, problems)
    return address === undefined ? undefined : { ...address, ...SERVER_DEFAULTS }
  }
  if (!checkObject(value, path, SERVER_KEYS, problems, 'a URL string like "http://127.0.0.1:9001" or { url, weight, ... }')) return undefined
  const before = problems.length
  let address: ServerAddress | undefined
  if (value.url === undefined) problems.push({ path: keyPath(path, 'url'), message: 'is required (e.g. "http://127.0.0.1:9001")' })
  else address = resolveServerUrl(value.url, keyPath(path, 'url'), problems)
  const option = <T>(key: (typeof SERVER_KEYS)[number], fallback: T, check: (v: unknown, p: string) => T | undefined): T =>
    value[key] === undefined ? fallback : check(value[key], keyPath(path, key)) ?? fallback
  const server = {
    weight: option('weight', SERVER_DEFAULTS.weight, (v, p) => checkInteger(v, p, 1, 1000, problems)),
    maxFails: option('maxFails', SERVER_DEFAULTS.maxFails, (v, p) => checkInteger(v, p, 0, 1000, problems)),
    failTimeout: option('failTimeout', SERVER_DEFAULTS.failTimeout, (v, p) => checkDuration(v, p, problems)),
    maxConns: option('maxConns', SERVER_DEFAULTS.maxConns, (v, p) => checkInteger(v, p, 0, COUNT_MAX, problems)),
    backup: option<boolean>('backup', SERVER_DEFAULTS.backup, (v, p) => checkBoolean(v, p, problems)),
    down: option<boolean>('down', SERVER_DEFAULTS.down, (v, p) => checkBoolean(v, p, problems)),
    srv: option<boolean>('srv', SERVER_DEFAULTS.srv, (v, p) => checkBoolean(v, p, problems))
  }
  if (server.srv && address !== undefined) checkSrvServer(value.url as string, address.host, path, problems)
  return address === undefined || problems.length > before ? undefined : { ...address, ...server }
}

function resolveServers (value: unknown, path: string, problems: Problems): ResolvedServer[] | undefined {
  if (value === undefined) {
    problems.push({ path, message: `is required: ${SERVERS_ALLOWED}` })
    return undefined
  }
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ path, message: got(value, SERVERS_ALLOWED) })
    return undefined
  }
  const before = problems.length
  const servers = value.map((server, i) => resolveServer(server, indexPath(path, i), problems))
  const seen = new Map<string, number>()
  servers.forEach((server, i) => {
    if (server === undefined) return
    const first = seen.get(server.url)
    if (first === undefined) seen.set(server.url, i)
    else problems.push({ path: indexPath(path, i), message: `got "${server.url}", already listed as ${indexPath(path, first)}; allowed: each server once per group` })
  })
  if (problems.length > before) return undefined
  const resolved = servers as ResolvedServer[]
  if (resolved.every(server => server.backup || server.down)) {
    problems.push({ path, message: `got ${describeValue(value)}; allowed: at least one server that is neither backup nor down` })
    return undefined
  }
  return resolved
}

function resolveHashKey (value: unknown, path: string, problems: Problems): ResolvedHashKey | undefined {
  if (value === undefined || value === 'remote-addr') return { source: 'remote-addr' }
  const match = typeof value === 'string' ? /^(header|query|cookie):(.+)$/.exec(value) : null
  if (match === null) {
    problems.push({ path, message: got(value, HASH_KEY_ALLOWED) })
    return undefined
  }
  const source = match[1] as 'header' | 'query' | 'cookie'
  return { source, name: source === 'header' ? match[2].toLowerCase() : match[2] }
}

function resolveUpstream (name: string, value: unknown, problems: Problems, ctx: ValidationContext): ResolvedUpstream | undefined {
  const path = keyPath('upstreams', name)
  if (!checkObject(value, path, UPSTREAM_KEYS, problems, 'an object { servers: [...], balance?, hashKey?, keepalive?, resolveInterval?, resolver?, tls? }')) return undefined
  const before = problems.length
  const balance = value.balance === undefined ? UPSTREAM_DEFAULTS.balance : checkEnum(value.balance, keyPath(path, 'balance'), BALANCE_METHODS, problems)
  const hashKey = resolveHashKey(value.hashKey, keyPath(path, 'hashKey'), problems)
  if (value.hashKey !== undefined && hashKey !== undefined && balance !== undefined && balance !== 'hash') {
    problems.push({ path: keyPath(path, 'hashKey'), message: `got ${describeValue(value.hashKey)} with balance "${balance}"; allowed: only with balance: "hash"` })
  }
  const keepalive = value.keepalive === undefined ? UPSTREAM_DEFAULTS.keepalive : checkInteger(value.keepalive, keyPath(path, 'keepalive'), 0, 100_000, problems)
  const servers = resolveServers(value.servers, keyPath(path, 'servers'), problems)
  const dns = resolveDnsOptions(value, path, problems)
  const tls = resolveUpstreamTls(value.tls, keyPath(path, 'tls'), servers, problems, ctx.baseDir)
  if (problems.length > before || balance === undefined || hashKey === undefined || keepalive === undefined || servers === undefined || tls === undefined) return undefined
  return { name, balance, hashKey, servers, keepalive, ...dns, tls }
}

/** `upstreams`: every named group resolved, or undefined for each that has problems (their names still count as defined). */
export function resolveUpstreams (value: unknown, problems: Problems, ctx: ValidationContext = PLUGIN_CONTEXT): { names: string[], upstreams: Map<string, ResolvedUpstream> } {
  const upstreams = new Map<string, ResolvedUpstream>()
  const example = 'an object with at least one named upstream group, e.g. { "app": { "servers": ["http://127.0.0.1:9001"] } }'
  if (value === undefined) {
    problems.push({ path: 'upstreams', message: `is required: ${example}` })
    return { names: [], upstreams }
  }
  if (!checkRecord(value, 'upstreams', example, problems)) return { names: [], upstreams }
  const names = Object.keys(value)
  if (names.length === 0) problems.push({ path: 'upstreams', message: got(value, example) })
  for (const name of names) {
    const upstream = resolveUpstream(name, value[name], problems, ctx)
    if (upstream !== undefined) upstreams.set(name, upstream)
  }
  return { names, upstreams }
}
