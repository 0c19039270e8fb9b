import type { Worker } from 'node:cluster'
import { Socket } from 'node:net'
import type { ConnMessage } from '../ipc-messages.js'

/**
 * Handing accepted sockets to workers over the IPC channel, and getting back
 * the ones a worker died holding.
 */

/** A connection waiting for, or on its way to, a worker. */
export interface Handoff {
  socket: Socket
  /** Client address from a trusted PROXY header; null = the socket's own peer. */
  clientAddress: string | null
  /** Bytes already read past the PROXY header; null when none. */
  head: Buffer | null
}

// One shared message for the common case, so a plain hand-off allocates nothing of ours.
const PLAIN_CONN: ConnMessage = Object.freeze({ type: 'ws-cluster:conn' }) as ConnMessage

function messageFor (handoff: Handoff): ConnMessage {
  if (handoff.clientAddress === null && handoff.head === null) return PLAIN_CONN
  const message: ConnMessage = { type: 'ws-cluster:conn' }
  if (handoff.clientAddress !== null) message.a = handoff.clientAddress
  if (handoff.head !== null && handoff.head.length > 0) message.h = handoff.head.toString('base64')
  return message
}

/**
 * Sends the socket to `worker`; the primary's copy of the descriptor is
 * closed once the worker acknowledged it (`keepOpen: false`). `onSettled`
 * runs when Node took the hand-off off its queue and wrote it (or failed),
 * which happens only once the worker acknowledged the one before: so
 * sends minus settled is what waits on the worker (R58). When the send
 * fails before the handle left (channel already closed), `onUnsent` gets the
 * intact hand-off back to route elsewhere; once the handle left, a failure
 * can only be cleaned up, so the socket is destroyed.
 *
 * @example
 * sendSocket(worker, { socket, clientAddress: null, head: null }, () => inFlight--, requeue)
 */
export function sendSocket (worker: Worker, handoff: Handoff, onSettled: () => void, onUnsent: (handoff: Handoff) => void): void {
  worker.send(messageFor(handoff), handoff.socket, { keepOpen: false }, (err) => {
    onSettled()
    if (err === null || err === undefined) return
    if (hasHandle(handoff.socket)) onUnsent(handoff)
    else handoff.socket.destroy()
  })
}

function hasHandle (socket: Socket): boolean {
  return (socket as unknown as { _handle: unknown })._handle != null
}

// Node's child_process keeps a handle queue while it waits for the receiver's
// NODE_HANDLE_ACK. When the receiver dies first, Node neither sends nor closes
// what is queued, nor the descriptor awaiting its ACK: the client's TCP
// connection would stay open in the primary forever (R41). These are Node
// internals (lib/internal/child_process.js, stable since Node 0.12); if they
// ever change shape, the guards below make this a no-op instead of a crash.
interface QueuedSend {
  handle: unknown
  message: unknown
}
interface ChildInternals {
  _handleQueue?: QueuedSend[] | null
  _pendingMessage?: { handle?: { close?: () => void } } | null
}

/**
 * Takes back the sockets still queued for a dead worker (returned so they can
 * wait for the slot's replacement: nothing was read from them) and closes the
 * descriptor whose delivery was never acknowledged (it may have reached the
 * dead worker, so it cannot be replayed safely).
 *
 * @example
 * worker.on('exit', () => { for (const h of reclaimInFlight(worker).requeue) slots.deliver(slotId, h) })
 */
export function reclaimInFlight (worker: Worker): { requeue: Handoff[], closed: number } {
  const child = worker.process as unknown as ChildInternals
  const reclaimed: Handoff[] = []
  let closed = 0
  const queue = child._handleQueue
  if (Array.isArray(queue)) {
    child._handleQueue = null
    for (const entry of queue) {
      if (!(entry.handle instanceof Socket)) continue
      const message = entry.message as ConnMessage | undefined
      reclaimed.push({
        socket: entry.handle,
        clientAddress: message?.a ?? null,
        head: message?.h !== undefined ? Buffer.from(message.h, 'base64') : null
      })
    }
  }
  const pending = child._pendingMessage
  if (pending !== null && pending !== undefined) {
    child._pendingMessage = null
    if (typeof pending.handle?.close === 'function') {
      pending.handle.close()
      closed++
    }
  }
  return { requeue: reclaimed, closed }
}
