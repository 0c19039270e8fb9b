import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { endToEndHeaderLines } from './response-head.js'
import { lingeringClose } from './lingering-close.js'

/**
 * R3: an upstream that refuses the upgrade (200, 401, 403, 426, 5xx...) has
 * its answer passed to the client: status line, end-to-end headers in order
 * and case, and body. The client connection is closed afterwards, because a
 * client that asked to switch protocols may already have sent frames that no
 * HTTP parser should read. Chunked bodies are re-chunked, since Node's parser
 * hands over the payload without its framing.
 */
export function relayAnswer (res: IncomingMessage, client: Socket, idleMs: number, done: (bytes: number) => void): void {
  const chunked = /\bchunked\b/i.test(String(res.headers['transfer-encoding'] ?? ''))
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n` + endToEndHeaderLines(res.rawHeaders, false)
  if (chunked) head += 'Transfer-Encoding: chunked\r\n'
  head += 'Connection: close\r\n\r\n'

  let bytes = 0
  let finished = false
  const finish = (): void => {
    if (finished) return
    finished = true
    res.destroy()
    res.socket?.destroy()
    client.setTimeout(0)
    done(bytes)
  }
  client.setTimeout(idleMs, () => client.destroy())
  client.once('close', finish)
  res.on('error', () => client.destroy())
  client.write(head, 'latin1')
  res.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    let ok: boolean
    if (chunked) {
      client.write(`${chunk.length.toString(16)}\r\n`)
      client.write(chunk)
      ok = client.write('\r\n')
    } else {
      ok = client.write(chunk)
    }
    if (!ok) {
      res.pause()
      client.once('drain', () => res.resume())
    }
  })
  res.on('end', () => {
    if (chunked) client.write('0\r\n\r\n')
    client.setTimeout(0)
    lingeringClose(client)
  })
}
