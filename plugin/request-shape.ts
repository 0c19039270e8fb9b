import type { FastifyReply, FastifyRequest } from 'fastify'
import { countHeader } from './hop-by-hop.js'

/**
 * R36/R37 checks Node's parser leaves to the application: a request target
 * longer than `maxUrlLength` gets 414, and a request carrying Host twice
 * gets 400 (two hosts make routing and X-Forwarded-Host ambiguous).
 * Returns true when the request was answered.
 */
export function refuseBadRequestShape (request: FastifyRequest, reply: FastifyReply, maxUrlLength: number): boolean {
  const url = request.raw.url ?? ''
  if (url.length > maxUrlLength) {
    request.log.info({ urlLength: url.length, maxUrlLength }, 'request refused: URI too long')
    reply.code(414).send(new Error(`Request target is ${url.length} bytes; at most ${maxUrlLength} are accepted`))
    return true
  }
  if (countHeader(request.raw.rawHeaders, 'host') > 1) {
    request.log.info('request refused: several Host headers')
    reply.code(400).send(new Error('Several Host headers'))
    return true
  }
  return false
}
