import type { IncomingMessage } from 'node:http'
import { countHeader } from './hop-by-hop.js'

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
