import type { IncomingMessage } from 'node:http'

/** The identity headers a proxy adds for its upstream (nginx `proxy_set_header X-Real-IP ...` and friends). */
export interface ForwardedValues {
  'x-forwarded-for': string
  'x-real-ip': string
  'x-forwarded-proto': 'http' | 'https'
  'x-forwarded-host'?: string
}

/** Header names the proxy owns when forwarded headers are on: the client's copies are replaced, not passed. */
export const FORWARDED_NAMES = new Set(['x-forwarded-for', 'x-real-ip', 'x-forwarded-proto', 'x-forwarded-host'])

/**
 * R30: X-Forwarded-For appends the client to what earlier proxies wrote
 * (nginx `$proxy_add_x_forwarded_for`); X-Real-IP is the client; the proto is
 * the scheme of the client's connection (`http`/`https`, never `ws`/`wss`).
 * `Forwarded` is not touched: it passes as any end-to-end header.
 */
export function forwardedValues (req: IncomingMessage, clientAddress: string, encrypted: boolean): ForwardedValues {
  const incoming = req.headers['x-forwarded-for']
  const prior = Array.isArray(incoming) ? incoming.join(', ') : incoming
  const values: ForwardedValues = {
    'x-forwarded-for': prior === undefined || prior === '' ? clientAddress : `${prior}, ${clientAddress}`,
    'x-real-ip': clientAddress,
    'x-forwarded-proto': encrypted ? 'https' : 'http'
  }
  const host = req.headers.host
  if (host !== undefined) values['x-forwarded-host'] = host
  return values
}
