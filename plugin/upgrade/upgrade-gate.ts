import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import { clientAddressOf, ipKey } from '../client-identity.js'
import { BadHandshakeError, BadPathError, ForbiddenOriginError, RateLimitedError } from '../errors.js'
import { countHeader } from '../hop-by-hop.js'
import { originAllowed } from '../origin-policy.js'
import { pathProblemOf } from '../path-normalization.js'
import type { ProxyRuntime, RouteRuntime } from '../proxy-runtime.js'
import { isWebSocketUpgrade } from './websocket-handshake.js'

/*
 * The checks an upgrade to one of our routes meets before Fastify routes it,
 * so before any hook of the application runs and any upstream is asked: the
 * cheap edge checks a hostile client must not get past by volume (an auth
 * hook that queries a database should not be what absorbs a flood).
 */

type HttpError = Error & { statusCode: number, code: string }

/** What becomes of an upgrade request to one of our routes. */
export type GateVerdict =
  /** Goes on to the route's upgrade handler. */
  | { kind: 'claim' }
  /** Asks for no protocol the route allows: routed as a plain request, its Upgrade ignored (RFC 9110 §7.8). */
  | { kind: 'plain', offered: string }
  /** Answered here with `error`'s status. */
  | { kind: 'refuse', error: HttpError, reason: string, headers?: Record<string, string> }

/** The protocol names of an Upgrade value ("websocket", "h2c", "TLS/1.0"), lower-cased, in order. */
function offeredProtocols (value: string): string[] {
  return value.split(',').map(p => p.trim().toLowerCase()).filter(p => p !== '')
}

function allows (route: RouteRuntime, protocol: string): boolean {
  const allowed = route.config.upgradeProtocols
  const slash = protocol.indexOf('/')
  return allowed.includes(protocol) || (slash !== -1 && allowed.includes(protocol.slice(0, slash)))
}

/** Replaces the value of the request's one Upgrade header, so only allowed protocols reach the upstream. */
function narrowUpgrade (req: IncomingMessage, value: string): void {
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 7 && raw[i].toLowerCase() === 'upgrade') raw[i + 1] = value
  }
  req.headers.upgrade = value
}

function refuse (error: HttpError, reason: string, headers?: Record<string, string>): GateVerdict {
  return headers === undefined ? { kind: 'refuse', error, reason } : { kind: 'refuse', error, reason, headers }
}

function httpError<T extends Error> (error: T, statusCode: number): T & HttpError {
  return Object.assign(error, { statusCode, code: (error as Error & { code?: string }).code ?? '' })
}

/** R85: the Origin check of routes with `allowedOrigins` or `requireOrigin`; null when the origin may go on. */
function originRefusal (route: RouteRuntime, req: IncomingMessage): string | null {
  const { allowedOrigins, requireOrigin } = route.config
  const origin = req.headers.origin
  if (origin === undefined) return requireOrigin ? 'no Origin header (requireOrigin)' : null
  if (allowedOrigins === null || originAllowed(origin, allowedOrigins)) return null
  return `origin ${JSON.stringify(origin.slice(0, 200))} is not in allowedOrigins`
}

/**
 * Decides what becomes of an upgrade to `route` (R81-R83, R85, R86): a path
 * that climbs above the root or hides a dot segment gets 400; a body gets
 * 400 (held until the 101, it would stall an upstream that reads bodies
 * first); protocols the route does not allow are dropped from the offer, and
 * an offer with none left is handled as a plain request; a WebSocket upgrade
 * that is not a GET gets 400 (R7); an Origin the route does not allow gets
 * 403; a client past `limits.connectionRate` gets 429 with Retry-After.
 */
export function gateUpgrade (runtime: ProxyRuntime, route: RouteRuntime, req: IncomingMessage): GateVerdict {
  const pathProblem = pathProblemOf(req)
  if (pathProblem !== undefined) return refuse(httpError(new BadPathError(pathProblem), 400), pathProblem)
  const length = req.headers['content-length']
  if ((length !== undefined && length.trim() !== '0') || req.headers['transfer-encoding'] !== undefined) {
    return refuse(httpError(new BadHandshakeError('an upgrade request cannot carry a body'), 400), 'upgrade request with a body')
  }
  const offered = offeredProtocols(req.headers.upgrade ?? '')
  const allowed = offered.filter(protocol => allows(route, protocol))
  if (allowed.length === 0) return { kind: 'plain', offered: offered.join(', ') }
  // With several Upgrade headers the request is refused later (R7); narrowing one would hide that.
  if (allowed.length < offered.length && countHeader(req.rawHeaders, 'upgrade') === 1) narrowUpgrade(req, allowed.join(', '))
  if (req.method !== 'GET' && isWebSocketUpgrade(req)) {
    const reason = `WebSocket upgrade with method ${req.method ?? ''}`
    return refuse(httpError(new BadHandshakeError(reason), 400), reason)
  }
  const originProblem = originRefusal(route, req)
  if (originProblem !== null) return refuse(httpError(new ForbiddenOriginError(), 403), originProblem)
  if (runtime.rate !== null) {
    const waitMs = runtime.rate.take(ipKey(clientAddressOf(req.socket), runtime.options.limits.ipv6Prefix))
    if (waitMs > 0) {
      const retryAfter = String(Math.max(1, Math.ceil(waitMs / 1000)))
      return refuse(httpError(new RateLimitedError(), 429), 'limits.connectionRate reached', { 'Retry-After': retryAfter })
    }
  }
  return { kind: 'claim' }
}

/**
 * Answers a refused upgrade with the body Fastify would give the error
 * (`statusCode`, `code`, `error`, `message`), counts it, and logs it: 400s at
 * info like every malformed request, 403 and 429 as throttled warnings, since
 * a client can cause them in a loop.
 */
export function answerRefusal (runtime: ProxyRuntime, route: RouteRuntime, req: IncomingMessage, res: ServerResponse, verdict: Extract<GateVerdict, { kind: 'refuse' }>): void {
  const { error, reason } = verdict
  const statusCode = error.statusCode
  // Refused before Fastify's onRequest hook, which counts every other request.
  runtime.counters.requests++
  runtime.counters.route(route.config.path).failed++
  const client = clientAddressOf(req.socket)
  const fields = { route: route.config.path, method: req.method, url: req.url, client, reason, statusCode }
  if (statusCode === 429) {
    runtime.counters.rateLimited++
    runtime.warnings.warn(`rate-limited:${route.config.path}`, fields, 'upgrade refused: connection rate limit')
  } else if (statusCode === 403) {
    runtime.warnings.warn(`forbidden-origin:${route.config.path}`, fields, 'upgrade refused: origin not allowed')
  } else {
    runtime.log.info(fields, 'upgrade refused: invalid request')
  }
  const body = JSON.stringify({ statusCode, code: error.code, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message })
  res.writeHead(statusCode, {
    ...verdict.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close'
  })
  res.end(body)
}
