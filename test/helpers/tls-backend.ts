import type { IncomingMessage } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { WebSocketServer, type RawData } from 'ws'

/** An https + wss echo backend on 127.0.0.1 that records the SNI name each TLS connection asked for. */
export interface TlsEchoBackend {
  /** `https://127.0.0.1:PORT` */
  url: string
  port: number
  /** SNI of each completed TLS handshake, in order (null when none was sent). */
  servernames: Array<string | null>
  /** TLS handshakes that completed. */
  handshakes: () => number
  /** WebSocket upgrades that reached it. */
  upgrades: IncomingMessage[]
  /** Plain HTTP requests that reached it. */
  requests: IncomingMessage[]
  close: () => Promise<void>
}

/** Starts a TLS echo backend with the given certificate; every message comes back as sent. */
export async function startTlsEchoBackend (tls: { cert: string, key: string }): Promise<TlsEchoBackend> {
  const servernames: Array<string | null> = []
  const upgrades: IncomingMessage[] = []
  const requests: IncomingMessage[] = []
  const sockets = new Set<Socket>()
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    requests.push(req)
    req.resume()
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ url: req.url, tls: true }))
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    const name = (socket as TLSSocket & { servername?: string | false }).servername
    servernames.push(typeof name === 'string' ? name : null)
  })
  // A failed handshake is the test's subject, not an error of the backend.
  server.on('tlsClientError', () => {})
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req)
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate())
      ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    servernames,
    handshakes: () => servernames.length,
    upgrades,
    requests,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
