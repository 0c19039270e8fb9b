import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BadPathError, BadRequestError, HttpVersionNotSupportedError, MalformedRequestError, RequestHeadTimeoutError, UriTooLongError } from './errors.js'
import { countHeader } from './hop-by-hop.js'
import { pathProblemOf } from './path-normalization.js'

// R36/R37 answers to malformed or oversized requests, at the two places they
// can be caught: requests Node parsed but a server must still refuse (an
// onRequest hook), and requests Node's parser rejected (clientErrorHandler).

type ShapeHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

/**
 * R36/R37 checks Node's parser leaves to the application, in the order a
 * server would meet the problems: a version other than HTTP/1.x gets 505
 * (llhttp accepts "HTTP/2.0" in an HTTP/1 request line), a request target
 * longer than `maxUrlLength` gets 414, an HTTP/1.1 request without Host gets
 * 400 (Node only enforces that for requests it does not hand to 'upgrade'),
 * and a request carrying Host twice gets 400 (two hosts make routing and
 * X-Forwarded-Host ambiguous). Returns true when the request was answered.
 */
function refuseBadRequestShape (request: FastifyRequest, reply: FastifyReply, maxUrlLength: number): boolean {
  const raw = request.raw
  if (raw.httpVersionMajor !== 1) {
    request.log.info({ httpVersion: raw.httpVersion }, 'request refused: unsupported HTTP version')
    reply.code(505).send(new HttpVersionNotSupportedError(raw.httpVersion))
    return true
  }
  const url = raw.url ?? ''
  if (url.length > maxUrlLength) {
    request.log.info({ urlLength: url.length, maxUrlLength }, 'request refused: URI too long')
    reply.code(414).send(new UriTooLongError(url.length, maxUrlLength))
    return true
  }
  const hosts = countHeader(raw.rawHeaders, 'host')
  if (hosts === 0 && raw.httpVersionMinor >= 1) {
    request.log.info('request refused: HTTP/1.1 without Host')
    reply.code(400).send(new BadRequestError('an HTTP/1.1 request needs a Host header'))
    return true
  }
  if (hosts > 1) {
    request.log.info('request refused: several Host headers')
    reply.code(400).send(new BadRequestError('several Host headers'))
    return true
  }
  // R82: a path that climbs above the root or hides a dot segment has no one meaning to route by.
  const pathProblem = pathProblemOf(raw)
  if (pathProblem !== undefined) {
    request.log.info({ url, reason: pathProblem }, 'request refused: invalid path')
    reply.code(400).send(new BadPathError(pathProblem))
    return true
  }
  return false
}

/**
 * {@link refuseBadRequestShape} as an onRequest hook for every route the
 * plugin owns (upgrade, 426, passthrough); `maxUrlLength` is read per request,
 * so an update applies to routes registered before it.
 */
export function requestShapeHook (maxUrlLength: () => number): ShapeHook {
  return async (request, reply) => {
    // Returning the reply tells Fastify the request was answered here.
    return refuseBadRequestShape(request, reply, maxUrlLength()) ? reply : undefined
  }
}

/** Node's parser errors mapped to the status nginx would answer (R36, R37). */
function statusFor (code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return 431
    case 'HPE_INVALID_VERSION': return 505
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 408
    default: return 400
  }
}

/**
 * A Fastify `clientErrorHandler` for requests Node's parser rejects before
 * any route sees them: header too large → 431, unsupported HTTP version → 505,
 * request head timeout → 408, any other malformed request → 400. Each is
 * logged with the parser's reason, and the connection is closed.
 *
 * @example
 * const app = Fastify({ clientErrorHandler: wsProxyClientErrorHandler })
 */
export function wsProxyClientErrorHandler (this: FastifyInstance, err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) {
    socket.destroy()
    return
  }
  const status = statusFor(err.code)
  const reason = STATUS_CODES[status] ?? 'Bad Request'
  const why = err.reason ?? err.message
  const refusal = status === 408 ? new RequestHeadTimeoutError(this.server.headersTimeout) : new MalformedRequestError(why)
  this.log.info({ client: socket.remoteAddress, code: refusal.code, parserCode: err.code, reason: why, statusCode: status }, refusal.message)
  if (socket.writable) {
    const body = `${status} ${reason}\n`
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    socket.destroySoon()
  } else {
    socket.destroy()
  }
}
