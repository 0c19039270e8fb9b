import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
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
  close: () => Promise<void>
}

export interface EchoBackendOptions {
  /** Name sent back in the `x-backend` header of the 101 and of HTTP answers. */
  name?: string
  /** ws server options (handleProtocols, perMessageDeflate, maxPayload...). */
  wsOptions?: ConstructorParameters<typeof WebSocketServer>[0]
}

/** Starts an echo backend: every message comes back as sent (binary stays binary). */
export async function startEchoBackend (opts: EchoBackendOptions = {}): Promise<EchoBackend> {
  const name = opts.name ?? 'echo'
  const upgrades: IncomingMessage[] = []
  const requests: IncomingMessage[] = []
  const sockets = new Set<WebSocket>()
  const server = createServer((req, res) => {
    requests.push(req)
    req.resume()
    req.on('end', () => {
      res.setHeader('x-backend', name)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ backend: name, method: req.method, url: req.url, headers: req.headers }))
    })
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, ...opts.wsOptions })
  wss.on('headers', (headers) => { headers.push(`x-backend: ${name}`) })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req)
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
      ws.on('error', () => ws.terminate())
      ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    wss,
    upgrades,
    requests,
    sockets,
    close: async () => {
      for (const ws of sockets) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
