import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { parseClientMessage, WORKER_HEADER, type ConnectionView, type RoomEvent } from './chat-protocol.js'
import { ChatRoom, sendTo, type MessageBus } from './chat-room.js'
import { PEER_PATH, PeerMesh } from './peer-mesh.js'
import { createRedisBus } from './redis-bus.js'

export interface ChatServerOptions {
  /** Shown to every page connected here, e.g. `backend-1`. */
  name: string
  host: string
  /** 0 picks a free port. */
  port: number
  /** Other backends' base URLs for the no-Redis mesh; ignored when `redisUrl` is set. */
  peers: string[]
  peerToken: string
  redisUrl: string | null
  log: (line: string) => void
}

export interface ChatServer {
  url: string
  port: number
  transport: MessageBus['kind']
  close (): Promise<void>
}

/**
 * A chat backend: Fastify + @fastify/websocket on `/ws`, one room shared with
 * the other backends over Redis pub/sub or the peer mesh, `/health` for
 * readiness checks.
 *
 * @example
 * const server = await startChatServer({ name: 'backend-1', host: '127.0.0.1', port: 0, peers: [], peerToken: 't', redisUrl: null, log: console.log })
 * await server.close()
 */
export async function startChatServer (options: ChatServerOptions): Promise<ChatServer> {
  const { name, log } = options
  const room = new ChatRoom()
  const deliver = (event: RoomEvent): void => room.deliver(event)
  let bus: MessageBus | null = null
  let mesh: PeerMesh | null = null
  let port = options.port
  let stopping = false

  const app = Fastify({ logger: false })
  await app.register(websocket)

  // Not ready until the bus is up: a page served earlier would chat into a room nobody else hears.
  app.get('/health', async (_request, reply) => {
    if (bus === null) return await reply.code(503).send({ name, ready: false })
    return { name, pid: process.pid, ready: true, clients: room.size }
  })

  app.get(PEER_PATH, { websocket: true }, (socket, request) => {
    if (mesh === null) socket.close(1013, 'this backend uses Redis, not the peer mesh')
    else mesh.accept(socket, request.raw)
  })

  app.get('/ws', { websocket: true }, (socket, request) => {
    if (bus === null) {
      socket.close(1013, `${name} is starting`)
      return
    }
    const view = connectionView(request.raw, name, port, bus.kind)
    sendTo(socket, { type: 'welcome', view, history: room.history() })
    let joinedAs: string | null = null
    const publish = (event: RoomEvent): void => { bus?.publish(event) }
    const system = (text: string): RoomEvent => ({ type: 'system', id: randomUUID(), at: Date.now(), text, backend: name })

    socket.on('message', (data, isBinary) => {
      const msg = isBinary ? { error: 'binary frames are not used' } : parseClientMessage(data.toString())
      if ('error' in msg) {
        sendTo(socket, { type: 'error', message: msg.error })
        return
      }
      if (msg.type === 'ping') {
        sendTo(socket, { type: 'pong', t: msg.t })
      } else if (msg.type === 'join') {
        if (joinedAs === null) room.add(socket)
        joinedAs = msg.name
        publish(system(`${msg.name} ${msg.rejoin ? 'reconnected' : 'joined'} via ${name}`))
      } else if (joinedAs === null) {
        sendTo(socket, { type: 'error', message: 'join before chatting' })
      } else {
        publish({ type: 'chat', id: randomUUID(), at: Date.now(), name: joinedAs, text: msg.text, backend: name })
      }
    })
    socket.on('close', () => {
      room.remove(socket)
      if (joinedAs !== null && !stopping) publish(system(`${joinedAs} left ${name}`))
    })
  })

  await app.listen({ host: options.host, port: options.port })
  const address = app.server.address()
  port = typeof address === 'object' && address !== null ? address.port : options.port
  const url = `http://${options.host}:${port}`

  try {
    if (options.redisUrl !== null) {
      bus = await createRedisBus({ url: options.redisUrl, deliver, log })
    } else {
      mesh = new PeerMesh({ peers: options.peers, self: url, token: options.peerToken, deliver, log })
      bus = mesh
    }
  } catch (err) {
    await app.close()
    throw err
  }
  const activeBus = bus

  return {
    url,
    port,
    transport: activeBus.kind,
    async close (): Promise<void> {
      stopping = true
      room.closeAll(`${name} is shutting down`)
      await activeBus.close()
      await app.close()
    }
  }
}

function connectionView (req: IncomingMessage, name: string, port: number, transport: MessageBus['kind']): ConnectionView {
  const header = (key: string): string | null => {
    const value = req.headers[key]
    return typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : null
  }
  return {
    backend: { name, pid: process.pid, port },
    proxyWorker: parseWorkerHeader(header(WORKER_HEADER)),
    client: {
      xForwardedFor: header('x-forwarded-for'),
      xRealIp: header('x-real-ip'),
      xForwardedHost: header('x-forwarded-host'),
      host: header('host'),
      remoteAddress: req.socket.remoteAddress ?? null
    },
    transport
  }
}

function parseWorkerHeader (value: string | null): ConnectionView['proxyWorker'] {
  const match = value === null ? null : /^([\w-]+):(\d+)$/.exec(value)
  return match === null ? null : { id: match[1] as string, pid: Number(match[2]) }
}
