import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

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
  this.log.info({ client: socket.remoteAddress, code: err.code, reason: err.reason ?? err.message, statusCode: status }, 'malformed request refused')
  if (socket.writable) {
    const body = `${status} ${reason}\n`
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    socket.destroySoon()
  } else {
    socket.destroy()
  }
}
