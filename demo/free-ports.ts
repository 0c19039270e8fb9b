import { createServer, type Server } from 'node:net'

/**
 * Finds `count` distinct free TCP ports on `host` by binding port 0 and
 * closing again. All probes stay open until every port is chosen, so the same
 * port is never handed out twice; another process can still take one in the
 * short gap before the demo binds it, which is acceptable for a demo and its
 * tests (the start then fails loudly with EADDRINUSE).
 *
 * @example
 * const [web, admin] = await freePorts(2, '127.0.0.1')
 */
export async function freePorts (count: number, host: string): Promise<number[]> {
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => resolve())
      })
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error(`cannot read the port bound on ${host}`)
      ports.push(address.port)
    }
    return ports
  } finally {
    await Promise.all(servers.map(async (server) => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }))
  }
}
