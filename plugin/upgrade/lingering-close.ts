import type { Socket } from 'node:net'

/**
 * How long a refused connection may stay open after its answer was sent.
 * nginx's lingering close reads and discards for up to `lingering_timeout`
 * (5 s) between reads and `lingering_time` (30 s) in all; a refused upgrade
 * has nothing more to say, so the shorter bound applies to the whole close.
 */
export const LINGER_MS = 5000

function clearLinger (this: Socket & { [kLinger]?: NodeJS.Timeout }): void {
  const timer = this[kLinger]
  if (timer !== undefined) clearTimeout(timer)
}

function destroyLingering (socket: Socket): void {
  socket.destroy()
}

const kLinger = Symbol('ws-cluster.linger')

/**
 * Ends a connection whose HTTP answer was sent (a refused or answered
 * upgrade): the FIN goes after the answer, what the client still sends is
 * read and dropped so its own FIN can arrive, and the socket is destroyed
 * after {@link LINGER_MS} whatever the client does. Without the bound, a
 * client that never closes its half would hold the descriptor forever.
 *
 * @example
 * res.on('finish', () => lingeringClose(res.socket))
 */
export function lingeringClose (socket: Socket, lingerMs = LINGER_MS): void {
  if (socket.destroyed) return
  socket.end()
  // Discards anything the client sends after its request (frames it sent
  // optimistically, a pipelined request); reading is also how its FIN is seen.
  socket.resume()
  const holder = socket as Socket & { [kLinger]?: NodeJS.Timeout }
  if (holder[kLinger] !== undefined) return
  const timer = setTimeout(destroyLingering, lingerMs, socket)
  timer.unref()
  holder[kLinger] = timer
  socket.once('close', clearLinger)
}
