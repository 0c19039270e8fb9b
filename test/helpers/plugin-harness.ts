import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { WebSocket, type ClientOptions } from 'ws'
import { wsProxy, type WsProxyOptions } from '../../plugin/index.js'
import { assertNoFdLeak, openFdCount } from './fd-leak.js'
import { onceWithin } from './timing.js'

/** A Fastify app with the plugin, listening on 127.0.0.1:0, with its pino output captured as objects. */
export interface ProxyUnderTest {
  app: FastifyInstance
  port: number
  /** `ws://127.0.0.1:PORT` */
  wsBase: string
  /** `http://127.0.0.1:PORT` */
  httpBase: string
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /**
   * R38 while the proxy still runs: waits until this process has as many
   * file descriptors open as right after the proxy started listening, and
   * throws if it does not within `timeoutMs`. Call it once the test closed
   * its own clients: a socket the proxy keeps after its tunnel or attempt
   * ended shows here, where a check after close() would miss it.
   * `heldByStandIns` counts sockets a test stand-in keeps open on purpose
   * after the proxy closed its end (a RawBackend's `heldOpen`).
   */
  assertIdleFds: (heldByStandIns?: () => number, timeoutMs?: number) => Promise<void>
  close: () => Promise<void>
}

export interface StartProxyOptions {
  /** Extra Fastify factory options (http, clientErrorHandler, ...). */
  fastify?: Record<string, unknown>
  /** Runs before the plugin is registered (hooks, other plugins). */
  before?: (app: FastifyInstance) => Promise<void> | void
  /** Runs after the plugin is registered. */
  after?: (app: FastifyInstance) => Promise<void> | void
}

/** Collects newline-delimited JSON written by pino. */
export function logCollector (): { stream: Writable, logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = []
  let pending = ''
  const stream = new Writable({
    write (chunk: Buffer, _enc, callback) {
      pending += chunk.toString('utf8')
      let nl = pending.indexOf('\n')
      while (nl !== -1) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
        nl = pending.indexOf('\n')
      }
      callback()
    }
  })
  return { stream, logs }
}

export async function startProxy (options: WsProxyOptions, extra: StartProxyOptions = {}): Promise<ProxyUnderTest> {
  const { stream, logs } = logCollector()
  const app = Fastify({ ...extra.fastify, logger: { level: 'info', stream } } as FastifyServerOptions)
  await extra.before?.(app)
  await app.register(wsProxy, options)
  await extra.after?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const idleFds = openFdCount()
  let closed = false
  return {
    app,
    port,
    wsBase: `ws://127.0.0.1:${port}`,
    httpBase: `http://127.0.0.1:${port}`,
    logs,
    assertIdleFds: async (heldByStandIns = () => 0, timeoutMs = 3000) => { await assertNoFdLeak(() => idleFds + heldByStandIns(), timeoutMs) },
    close: async () => {
      if (closed) return
      closed = true
      await app.close()
    }
  }
}

/** Opens a real `ws` client and resolves once it is open; rejects with the unexpected status (and body) if refused. */
export async function openWs (url: string, options: ClientOptions = {}): Promise<WebSocket> {
  return (await openWsWithHeaders(url, options)).ws
}

/** Like {@link openWs}, also giving the headers of the 101 the client got (`x-backend` names the echo backend). */
export async function openWsWithHeaders (url: string, options: ClientOptions = {}): Promise<{ ws: WebSocket, headers: IncomingMessage['headers'] }> {
  const ws = new WebSocket(url, options)
  return await new Promise((resolve, reject) => {
    let headers: IncomingMessage['headers'] = {}
    ws.once('upgrade', (res: IncomingMessage) => { headers = res.headers })
    ws.once('open', () => resolve({ ws, headers }))
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', () => {})
      res.on('close', () => {
        ws.terminate()
        const body = Buffer.concat(chunks).toString('utf8')
        reject(Object.assign(new Error(`unexpected response ${String(res.statusCode)}: ${body}`), { statusCode: res.statusCode, headers: res.headers, body }))
      })
    })
    ws.once('error', reject)
  })
}

/** The backend name (`x-backend` of the 101) a new WebSocket reached; the socket is kept open and returned. */
export async function openOn (url: string, options: ClientOptions = {}): Promise<{ ws: WebSocket, backend: string }> {
  const { ws, headers } = await openWsWithHeaders(url, options)
  return { ws, backend: String(headers['x-backend']) }
}

/** The backend name a WebSocket reached; the socket is closed again before returning. */
export async function backendFor (url: string, options: ClientOptions = {}): Promise<string> {
  const { ws, backend } = await openOn(url, options)
  await closeWs(ws)
  return backend
}

/** The HTTP status and body a refused WebSocket handshake got (throws if the handshake succeeded). */
export async function refusal (url: string, options: ClientOptions = {}): Promise<{ status: number, body: string }> {
  try {
    const ws = await openWs(url, options)
    ws.terminate()
  } catch (err) {
    const { statusCode, body } = err as { statusCode?: number, body?: string }
    if (statusCode !== undefined) return { status: statusCode, body: body ?? '' }
    throw err
  }
  throw new Error(`upgrade to ${url} succeeded`)
}

/** The HTTP status a refused WebSocket handshake got (throws if the handshake succeeded). */
export async function upgradeStatus (url: string, options: ClientOptions = {}): Promise<number> {
  return (await refusal(url, options)).status
}

/** Sends one message and waits for the next message back. */
export async function echo (ws: WebSocket, text: string): Promise<string> {
  const reply = onceWithin(ws, 'message')
  ws.send(text)
  const [data] = await reply
  return String(data)
}

/** Closes a client WebSocket and waits until its socket is gone. */
export async function closeWs (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  const closed = onceWithin(ws, 'close')
  ws.terminate()
  await closed
}

/** Resolves when `predicate` holds, polling every 10 ms; throws naming `what` after `timeoutMs`. */
export async function waitFor (predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** The access-log lines ("tunnel closed") written so far. */
export function tunnelLogs (logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter(line => line.msg === 'tunnel closed')
}

/**
 * Writes `bytes` on a raw TCP connection and collects everything the server
 * sends until it closes the connection (or `timeoutMs` passes, then the
 * socket is destroyed and what arrived is returned).
 */
export async function rawExchange (port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<string> {
  const socket = connect({ port, host: '127.0.0.1' })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  await onceWithin(socket, 'connect')
  socket.write(bytes)
  const timer = setTimeout(() => socket.destroy(), timeoutMs)
  await onceWithin(socket, 'close', timeoutMs + 5000)
  clearTimeout(timer)
  return Buffer.concat(chunks).toString('latin1')
}

/** The status code of the first HTTP response in `text`, or 0 when there is none. */
export function statusOf (text: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
  return match === null ? 0 : Number(match[1])
}

/** A raw WebSocket upgrade request head for `path` (valid key and version). */
export function upgradeHead (path: string, extraHeaders: string[] = [], host = '127.0.0.1'): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extraHeaders,
    '', ''
  ].join('\r\n')
}

/** Connects a raw socket and waits for the connection. */
export async function rawConnect (port: number, localAddress?: string): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  await onceWithin(socket, 'connect')
  return socket
}

/** One plain HTTP GET on its own connection (no client pool, so no socket outlives the test). */
export async function httpGet (url: string, options: { headers?: Record<string, string>, localAddress?: string } = {}): Promise<{ status: number, headers: IncomingMessage['headers'], body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: options.headers, localAddress: options.localAddress }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
