import { createHash } from 'node:crypto'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { proxyV2 } from './proxy-header.js'

/**
 * A small L4 load balancer in front of several ws-cluster hosts, the way a
 * cloud NLB or HAProxy (`balance source`, `send-proxy-v2`) sits in front of
 * them: it picks a host by hashing the client's source address (rendezvous
 * hashing, so a host going away moves only its own clients), skips hosts
 * that refuse the connection, and starts every upstream connection with a
 * PROXY protocol v2 header carrying the client address it claims for the
 * client — so tests can play many public clients from loopback.
 */
export interface BalancerHost {
  name: string
  port: number
}

export interface Pick {
  source: string
  claimed: string
  host: string
}

export interface ProxyBalancer {
  port: number
  /** Every connection forwarded, in order: which host took which client. */
  picks: Pick[]
  /** The hosts in the order this balancer tries them for a source address. */
  order: (source: string) => BalancerHost[]
  close: () => Promise<void>
}

/** How long a side may linger after the other closed before it is destroyed. */
const CLOSE_GRACE_MS = 2000

export async function startProxyBalancer (hosts: BalancerHost[], claim: (source: string) => string): Promise<ProxyBalancer> {
  const sockets = new Set<Socket>()
  const picks: Pick[] = []
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const score = (source: string, host: BalancerHost): string => createHash('sha256').update(`${source}|${host.name}`).digest('hex')
  const order = (source: string): BalancerHost[] => [...hosts].sort((a, b) => score(source, b).localeCompare(score(source, a)))

  // The other side ends gracefully (pending bytes flushed), and is cut if it lingers.
  const closeWith = (from: Socket, to: Socket): void => {
    from.once('close', () => {
      if (to.destroyed) return
      to.end()
      setTimeout(() => to.destroy(), CLOSE_GRACE_MS).unref()
    })
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    track(client)
    client.on('error', () => client.destroy())
    const source = (client.remoteAddress ?? '').replace(/^::ffff:/, '')
    const claimed = claim(source)
    const candidates = order(source)
    const tryNext = (index: number): void => {
      const host = candidates[index]
      if (host === undefined || client.destroyed) {
        client.destroy()
        return
      }
      const upstream = connect({ host: '127.0.0.1', port: host.port })
      track(upstream)
      const refused = (): void => {
        upstream.destroy()
        tryNext(index + 1)
      }
      upstream.once('error', refused)
      upstream.once('connect', () => {
        upstream.removeListener('error', refused)
        upstream.on('error', () => upstream.destroy())
        picks.push({ source, claimed, host: host.name })
        upstream.write(proxyV2({ source: claimed, sourcePort: client.remotePort ?? 0, destination: '127.0.0.1', destinationPort: (server.address() as AddressInfo).port }))
        closeWith(client, upstream)
        closeWith(upstream, client)
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    tryNext(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    picks,
    order,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}
