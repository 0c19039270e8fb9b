import { connectionTokens, isHopByHop } from '../hop-by-hop.js'

/**
 * The header lines of an upstream answer as the client gets them: every
 * end-to-end header in its order and case, hop-by-hop ones (and the ones the
 * upstream's Connection header names) dropped, `Upgrade` kept, since it
 * describes the protocol the answer is about. Used for the 101 (R4) and for
 * a refusal relayed as is (R3), so both filter alike.
 *
 * @example
 * const head = `HTTP/1.1 101 Switching Protocols\r\n${endToEndHeaderLines(res.rawHeaders, true)}Connection: upgrade\r\n\r\n`
 */
export function endToEndHeaderLines (rawHeaders: readonly string[], dropContentLength: boolean): string {
  const tokens = connectionTokens(rawHeaders)
  let lines = ''
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase()
    if (name !== 'upgrade' && isHopByHop(name, tokens)) continue
    // A 101 has no body: a Content-Length there describes nothing the client will get.
    if (dropContentLength && name === 'content-length') continue
    lines += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`
  }
  return lines
}
