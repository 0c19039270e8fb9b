import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { WebSocketServer, WebSocket, type RawData } from 'ws'

/** A running test backend: a real `ws` server on 127.0.0.1 that echoes and records what it saw. */
export interface EchoBackend {
  url: string
  port: number
  server: Server
  wss: WebSocketServer
  /** Upgrade requests as the backend received them. */
  upgrades: IncomingMessage[]
  /** Plain HTTP requests as the backend received them. */
  requests: IncomingMessage[]
  /** Open server-side WebSockets. */
  sockets: Set<WebSocket>
  /** TCP connections the backend accepted (R7: refused handshakes must cost none). */
  connections: () => number
  close: () => Promise<void>
}

export interface EchoBackendOptions {
  /** Name sent back in the `x-backend` header of the 101 and of HTTP answers. */
  name?: string
  /** ws server options (handleProtocols, perMessageDeflate, maxPayload...). */
  wsOptions?: ConstructorParameters<typeof WebSocketServer>[0]
  /** Called for every accepted WebSocket, before the echo handler is attached. */
  onConnection?: (ws: WebSocket, req: IncomingMessage) => void
  /** Echo messages back (default true); false leaves the socket to `onConnection`. */
  echo?: boolean
  /** Where to listen (a loopback address, port 0 = free); default 127.0.0.1, a free port. */
  listen?: { host: string, port: number }
}

/** Starts an echo backend: every message comes back as sent (binary stays binary). */
export async function startEchoBackend (opts: EchoBackendOptions = {}): Promise<EchoBackend> {
  const name = opts.name ?? 'echo'
  const upgrades: IncomingMessage[] = []
  const requests: IncomingMessage[] = []
  const sockets = new Set<WebSocket>()
  let connections = 0
  const server = createServer((req, res) => {
    requests.push(req)
    req.resume()
    req.on('end', () => {
      res.setHeader('x-backend', name)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ backend: name, method: req.method, url: req.url, headers: req.headers }))
    })
  })
  server.on('connection', () => { connections++ })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, ...opts.wsOptions })
  wss.on('headers', (headers) => { headers.push(`x-backend: ${name}`) })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req)
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
      ws.on('error', () => ws.terminate())
      opts.onConnection?.(ws, req)
      if (opts.echo !== false) ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }))
    })
  })
  return {
    ...await listenOnLoopback(server, opts.listen),
    server,
    wss,
    upgrades,
    requests,
    sockets,
    connections: () => connections,
    close: async () => {
      for (const ws of sockets) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** One echo backend per name, each answering with its name in `x-backend`, for tests that check which one served. */
export async function startNamedEchoBackends (...names: string[]): Promise<EchoBackend[]> {
  return await Promise.all(names.map(async name => await startEchoBackend({ name })))
}

/** Closes every backend of `list`. */
export async function closeEchoBackends (list: EchoBackend[]): Promise<void> {
  await Promise.all(list.map(async backend => await backend.close()))
}

/** One connection to a {@link RawBackend}: what it read and the socket to answer on. */
export interface RawExchange {
  socket: Socket
  /** The request head as received, up to and including the blank line. */
  head: string
  /** Header values by lower-cased name (last one wins), for computing answers. */
  headers: Record<string, string>
  /** Bytes read after the head, in arrival order (the test decides when to look). */
  received: Buffer[]
  /** Total length of `received`. */
  byteCount: number
  /** The peer's FIN arrived. */
  ended: boolean
}

/** A TCP server that parses nothing but the request head and lets the test write the exact answer bytes. */
export interface RawBackend {
  url: string
  port: number
  server: NetServer
  exchanges: RawExchange[]
  connections: () => number
  close: () => Promise<void>
}

/**
 * Starts a hand-written upstream for answers no real server library would
 * send (a wrong Sec-WebSocket-Accept, a 101 with bytes in the same packet,
 * a chunked refusal). `answer` runs once per connection when its request head
 * is complete; bytes after the head keep being collected in `received`.
 */
export async function startRawBackend (answer: (exchange: RawExchange) => void): Promise<RawBackend> {
  const exchanges: RawExchange[] = []
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createNetServer({ allowHalfOpen: true }, (socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let pending = Buffer.alloc(0)
    let exchange: RawExchange | null = null
    socket.on('end', () => { if (exchange !== null) exchange.ended = true })
    socket.on('data', (chunk: Buffer) => {
      if (exchange !== null) {
        exchange.received.push(chunk)
        exchange.byteCount += chunk.length
        return
      }
      pending = Buffer.concat([pending, chunk])
      const end = pending.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = pending.subarray(0, end + 4).toString('latin1')
      const headers: Record<string, string> = {}
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      exchange = { socket, head, headers, received: [], byteCount: 0, ended: false }
      const rest = pending.subarray(end + 4)
      if (rest.length > 0) exchange.received.push(rest)
      exchange.byteCount = rest.length
      exchanges.push(exchange)
      answer(exchange)
    })
  })
  return {
    ...await listenOnLoopback(server),
    server,
    exchanges,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** Listens on 127.0.0.1 (or `at`) with a free port (or `at.port`); the address to reach it by. Rejects on EADDRINUSE. */
async function listenOnLoopback (server: Server | NetServer, at = { host: '127.0.0.1', port: 0 }): Promise<{ url: string, port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(at.port, at.host, () => {
      server.removeListener('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = at.host.includes(':') ? `[${at.host}]` : at.host
  return { url: `http://${host}:${port}`, port }
}
