import * as crypto from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { countHeader } from '../hop-by-hop.js'
import { endToEndHeaderLines } from './response-head.js'

// The client's opening handshake is checked before any upstream connection
// (R7); the upstream's answer is checked and turned into the client's 101
// (R4, R8). Both halves are RFC 6455 §4 seen from the proxy.

/** Why an upgrade request is refused before any upstream connection is made. */
export interface HandshakeRejection {
  statusCode: 400 | 426
  reason: string
  headers?: Record<string, string>
}

// 16 bytes in base64 are 22 significant characters and "==" (what every decoder, and ws, accepts).
const KEY_RE = /^[A-Za-z0-9+/]{22}==$/

/** True when the request asks for the WebSocket protocol (case-insensitive, possibly among other protocols). */
export function isWebSocketUpgrade (req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade
  return upgrade !== undefined && upgrade.toLowerCase().split(',').some(p => p.trim() === 'websocket')
}

/**
 * R7: checks a WebSocket opening handshake the way HAProxy does, so that a
 * request no WebSocket server could accept never costs an upstream
 * connection. Returns null when the request may be forwarded.
 */
export function validateUpgradeRequest (req: IncomingMessage): HandshakeRejection | null {
  if (countHeader(req.rawHeaders, 'upgrade') > 1) {
    return { statusCode: 400, reason: 'several Upgrade headers' }
  }
  if (!isWebSocketUpgrade(req)) return null
  if (req.method !== 'GET') {
    return { statusCode: 400, reason: `WebSocket upgrade with method ${req.method ?? ''}` }
  }
  const key = req.headers['sec-websocket-key']
  if (key === undefined) return { statusCode: 400, reason: 'missing Sec-WebSocket-Key' }
  if (countHeader(req.rawHeaders, 'sec-websocket-key') > 1 || !KEY_RE.test(key.trim())) {
    return { statusCode: 400, reason: 'Sec-WebSocket-Key is not 16 base64-encoded bytes' }
  }
  const version = req.headers['sec-websocket-version']
  if (version === undefined || version.trim() !== '13') {
    return {
      statusCode: 426,
      reason: version === undefined ? 'missing Sec-WebSocket-Version' : `unsupported Sec-WebSocket-Version ${version}`,
      headers: { 'Sec-WebSocket-Version': '13' }
    }
  }
  return null
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

// One-shot hashing (Node ≥ 20.12) skips the Hash object createHash builds on
// every upgrade: a reconnect storm checks thousands of these a second.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash

/** The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2). */
function expectedAccept (key: string): string {
  const input = key + WEBSOCKET_GUID
  return oneShotHash !== undefined ? oneShotHash('sha1', input, 'base64') : crypto.createHash('sha1').update(input).digest('base64')
}

/**
 * R8: a 101 is only honoured when it really switches to what the client
 * asked for; for WebSocket the accept hash must match the client's key.
 * Returns why the answer is unusable, or null.
 */
export function checkUpgradeAnswer (req: IncomingMessage, res: IncomingMessage, webSocket: boolean): string | null {
  const upgrade = res.headers.upgrade
  if (upgrade === undefined) return '101 without an Upgrade header'
  if (!webSocket) return null
  if (upgrade.trim().toLowerCase() !== 'websocket') return `101 switching to "${upgrade}" instead of websocket`
  const accept = res.headers['sec-websocket-accept']
  const key = req.headers['sec-websocket-key'] ?? ''
  if (accept === undefined) return '101 without Sec-WebSocket-Accept'
  if (accept.trim() !== expectedAccept(key.trim())) return 'Sec-WebSocket-Accept does not match the key'
  return null
}

/**
 * R4: the 101 sent to the client: every end-to-end header of the upstream's
 * answer in its order and case (Upgrade, Sec-WebSocket-*, Set-Cookie...),
 * hop-by-hop ones dropped, and exactly one `Connection: upgrade`.
 */
export function clientSwitchHead (res: IncomingMessage): string {
  const status = `HTTP/1.1 101 ${res.statusMessage === '' ? 'Switching Protocols' : res.statusMessage}\r\n`
  return status + endToEndHeaderLines(res.rawHeaders, true) + 'Connection: upgrade\r\n\r\n'
}
