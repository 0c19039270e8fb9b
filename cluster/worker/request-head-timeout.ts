import type { Server } from 'node:http'

/** How often Node looks for connections past their head timeout; also the timeout's granularity. */
const CHECK_INTERVAL_MS = 1000

/**
 * Arms Node's own request-head timeout on a server that never listens.
 *
 * A worker is fed connections with `server.emit('connection', socket)`. Node
 * tracks every connection's parser and closes the ones that did not finish a
 * request head within `headersTimeout` (answering 408 through
 * 'clientError'), trickled bytes included; but it starts that tracking
 * when the server emits 'listening', which a server that never listens never
 * does. Emitting it here starts the same check Node runs for any listening
 * server, so the bound holds however the socket arrived (nginx
 * `client_header_timeout`). Without it, a client that connects and sends
 * nothing keeps its descriptor forever.
 *
 * Must run before the first connection: parsers created earlier are not tracked.
 *
 * @example
 * armRequestHeadTimeout(app.server, 60_000)
 * app.server.emit('connection', socket)
 */
export function armRequestHeadTimeout (server: Server, headersTimeout: number): void {
  server.headersTimeout = headersTimeout
  // A whole-request bound would also cut slow uploads on plain-HTTP routes; the head bound is what this is for.
  server.requestTimeout = 0
  // Read by Node when the tracking starts (the factory option `connectionsCheckingInterval`, 30 s by default).
  const tracked = server as Server & { connectionsCheckingInterval: number }
  tracked.connectionsCheckingInterval = Math.min(CHECK_INTERVAL_MS, headersTimeout)
  server.emit('listening')
}
