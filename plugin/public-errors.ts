import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'
import { throttledLogger, type WarningThrottle } from './warning-throttle.js'

/*
 * What a client may read of an error. 5xx messages describe the inside of the
 * deployment: upstream addresses, error codes of the system calls, timeouts,
 * group names, limits. Handing them to anyone who asks maps the private
 * network for an attacker, so clients get one fixed sentence per code and the
 * detail goes to the log, once, where the refusal is decided. 4xx messages
 * describe the client's own request ("missing Sec-WebSocket-Key") and stay.
 */

const PUBLIC_MESSAGES: Readonly<Record<string, string>> = {
  WS_CLUSTER_NO_LIVE_UPSTREAM: 'No live upstreams',
  WS_CLUSTER_UPSTREAMS_AT_MAX_CONNS: 'Every upstream server is busy',
  WS_CLUSTER_UPSTREAM_CONNECT_FAILED: 'Could not connect to the upstream server',
  WS_CLUSTER_UPSTREAM_CONNECT_TIMEOUT: 'The upstream server did not accept the connection in time',
  WS_CLUSTER_UPSTREAM_HANDSHAKE_TIMEOUT: 'The upstream server did not answer in time',
  WS_CLUSTER_UPSTREAM_BAD_HANDSHAKE: 'The upstream server sent an invalid answer',
  WS_CLUSTER_UPSTREAM_TLS_FAILED: 'Could not establish a trusted TLS connection to the upstream server',
  WS_CLUSTER_CONNECTION_LIMIT: 'The server cannot take more connections now; retry later'
}

/** An error as a client gets it: Fastify's error body shape (`statusCode`, `code`, `error`, `message`). */
export type PublicError = Error & { statusCode: number, code?: string }

/**
 * The error to send instead of `err`: same status and `WS_CLUSTER_*` code, a
 * message without internal detail for 5xx. Log `err` itself before sending
 * this. An error Fastify passes to the application's error handler, so a
 * custom handler sees the code and the safe message only.
 *
 * @example
 * request.log.warn({ err }, 'upstream attempt failed')
 * return reply.code(502).send(publicError(err, 502))
 */
export function publicError (err: Error & { statusCode?: number, code?: string }, statusCode = err.statusCode ?? 500): PublicError {
  if (statusCode < 500) return Object.assign(err, { statusCode })
  const message = (err.code !== undefined ? PUBLIC_MESSAGES[err.code] : undefined) ?? STATUS_CODES[statusCode] ?? 'Server error'
  const safe = new Error(message) as PublicError
  safe.name = 'FastifyError'
  safe.statusCode = statusCode
  if (err.code !== undefined) safe.code = err.code
  // No stack to leak either: Fastify only ever serialises the four fields, a custom handler might not.
  safe.stack = `${safe.name}: ${message}`
  return safe
}

/** What {@link sendPublicError} needs of a reply, whatever server types it was declared with. */
type ReplyLike = Pick<FastifyReply, 'log'> & { code: (statusCode: number) => { send: (payload: unknown) => unknown } }

/**
 * Sends `err` to the client as {@link publicError} does, through Fastify's
 * error handling (the application's error handler and onError hooks apply).
 * Fastify's default handler logs every 5xx it sends at error level; a client
 * that loops on a dead upstream would get one such line per request, so on
 * this reply that line goes through `warnings` under `kind` (R88). The
 * detail was logged before, where the failure was decided.
 *
 * @example
 * return sendPublicError(reply, new NoLiveUpstreamError(group.name), runtime.warnings, `no-upstream:${group.name}`)
 */
export function sendPublicError<Reply extends ReplyLike> (
  reply: Reply, err: Error & { statusCode?: number, code?: string }, warnings: WarningThrottle, kind: string
): Reply {
  const error = publicError(err)
  reply.log = throttledLogger(reply.log, warnings, kind)
  reply.code(error.statusCode).send(error)
  return reply
}
