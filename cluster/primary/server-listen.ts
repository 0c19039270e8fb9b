import type { Server as HttpServer } from 'node:http'
import type { Server } from 'node:net'

/*
 * Binding and closing the primary's listeners (client port, admin port,
 * control socket) as promises.
 */

/**
 * Listens and resolves once bound, or rejects with the bind error.
 * `umask`, when given, applies while the socket is bound (synchronously,
 * inside `listen()` in the primary), then the old one is back: a Unix
 * socket is born with the right mode, with no window before a chmod.
 *
 * @example
 * await listen(controlServer, { path: socketPath }, 0o177)
 */
export async function listen (server: Server | HttpServer, options: { port?: number, host?: string, path?: string }, umask?: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const previous = umask === undefined ? null : process.umask(umask)
    try {
      server.listen(options, () => {
        server.removeListener('error', reject)
        resolve()
      })
    } finally {
      if (previous !== null) process.umask(previous)
    }
  })
}

/** Closes an HTTP listener and every connection it still has; nothing to do for none. */
export async function closeServer (server: HttpServer | null): Promise<void> {
  if (server === null || !server.listening) return
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}
