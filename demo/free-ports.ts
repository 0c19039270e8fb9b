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

/**
 * Throws a clear error naming the first port someone else already holds, so
 * the demo does not start half-way and then talk to a stranger's server.
 *
 * @example
 * await assertPortsFree([{ host: '127.0.0.1', port: 8080, what: 'listen.port' }])
 */
export async function assertPortsFree (ports: Array<{ host: string, port: number, what: string }>): Promise<void> {
  for (const { host, port, what } of ports) {
    const server = createServer()
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => resolve())
      })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      throw new Error(`${what}: ${host}:${port} is not available (${code}); stop what uses it, or pick other ports (npm run demo -- --port 0 --admin-port 0 --backend-port 0)`)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
