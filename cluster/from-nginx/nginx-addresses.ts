/**
 * The address forms of `listen`, upstream `server` and `proxy_pass`, and
 * the ws-cluster server URL an upstream address becomes.
 */

/** A TCP endpoint; `host` null means every address (`listen 80`, `listen *:80`). */
export interface HostPort {
  host: string | null
  port: number | null
}

export type Parsed<T> = { ok: true, value: T } | { ok: false, reason: string }

const PORT_RE = /^\d{1,5}$/

function port (text: string): number | null {
  if (!PORT_RE.test(text)) return null
  const value = Number(text)
  return value >= 1 && value <= 65535 ? value : null
}

/**
 * `host:port`, `host`, `port` (only where `portOnly` allows it), `*:port`,
 * `[v6]:port`, `[v6]`. IPv6 hosts come back without brackets.
 */
function splitHostPort (text: string, portOnly: boolean): Parsed<HostPort> {
  if (text.startsWith('unix:')) return { ok: false, reason: 'a unix socket; ws-cluster reaches servers and accepts clients over TCP only' }
  if (text.includes('$')) return { ok: false, reason: 'an address built from variables, which only exist per request in nginx' }
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close === -1) return { ok: false, reason: `"${text}" has no closing "]"` }
    const rest = text.slice(close + 1)
    if (rest !== '' && (!rest.startsWith(':') || port(rest.slice(1)) === null)) return { ok: false, reason: `"${text}" has a bad port` }
    return { ok: true, value: { host: text.slice(1, close), port: rest === '' ? null : port(rest.slice(1)) } }
  }
  if (portOnly && PORT_RE.test(text)) {
    const only = port(text)
    return only === null ? { ok: false, reason: `port ${text} is out of range` } : { ok: true, value: { host: null, port: only } }
  }
  const colon = text.lastIndexOf(':')
  if (colon === -1) return { ok: true, value: { host: text === '*' ? null : text, port: null } }
  const value = port(text.slice(colon + 1))
  if (value === null) return { ok: false, reason: `"${text}" has a bad port` }
  const host = text.slice(0, colon)
  return { ok: true, value: { host: host === '*' ? null : host, port: value } }
}

/** The address of a `listen` directive: `80`, `127.0.0.1:8080`, `[::]:443`, `*:80`. The port defaults to 80. */
export function parseListenAddress (text: string): Parsed<{ host: string | null, port: number }> {
  const parsed = splitHostPort(text, true)
  if (!parsed.ok) return parsed
  return { ok: true, value: { host: parsed.value.host, port: parsed.value.port ?? 80 } }
}

/** The address of an upstream `server`: `10.0.0.1:9000`, `backend.example.com` (port 80), `[::1]:9000`. */
export function parseServerAddress (text: string): Parsed<{ host: string, port: number }> {
  const parsed = splitHostPort(text, false)
  if (!parsed.ok) return parsed
  if (parsed.value.host === null || parsed.value.host === '') return { ok: false, reason: `"${text}" names no host` }
  return { ok: true, value: { host: parsed.value.host, port: parsed.value.port ?? 80 } }
}

export interface ProxyPassTarget {
  scheme: 'http' | 'https'
  /** The host as written: an upstream name or a host name/address. */
  host: string
  /** null when the URL has no port (then it may name an upstream group). */
  port: number | null
  /** The URI part after the host (`/`, `/api/`), or null when there is none. */
  uri: string | null
}

/** `http://backend`, `https://10.0.0.1:9000/`, `http://backend/api/`. */
export function parseProxyPass (text: string): Parsed<ProxyPassTarget> {
  const match = /^(https?):\/\/([^/]*)(\/.*)?$/i.exec(text)
  if (match === null) return { ok: false, reason: `"${text}" is not an http:// or https:// URL` }
  const scheme = match[1].toLowerCase() as 'http' | 'https'
  const uri = match[3] ?? null
  if (uri !== null && uri.includes('$')) return { ok: false, reason: 'a URI built from variables, which only exist per request in nginx' }
  if (uri !== null && uri.includes('?')) return { ok: false, reason: 'a URI with a query string, which ws-cluster cannot add to requests' }
  const hostPort = splitHostPort(match[2], false)
  if (!hostPort.ok) return hostPort
  if (hostPort.value.host === null || hostPort.value.host === '') return { ok: false, reason: `"${text}" names no host` }
  return { ok: true, value: { scheme, host: hostPort.value.host, port: hostPort.value.port, uri } }
}

/** `http://host:port` as ws-cluster writes a server; the port is left out when it is the scheme's default. */
export function serverUrl (scheme: 'http' | 'https', host: string, portNumber: number): string {
  const hostText = host.includes(':') ? `[${host}]` : host
  const defaultPort = scheme === 'https' ? 443 : 80
  return portNumber === defaultPort ? `${scheme}://${hostText}` : `${scheme}://${hostText}:${portNumber}`
}
