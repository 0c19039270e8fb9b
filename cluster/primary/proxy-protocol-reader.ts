import type { Socket } from 'node:net'
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol.js'

/** A PROXY v2 header is at most 16 + 65535 bytes; anything longer without a parse is garbage. */
const MAX_HEADER_BYTES = 16 + 0xffff

export interface ProxyRead {
  header: ProxyHeader
  /** Bytes the client sent after the header (already read off the socket); null when none. */
  rest: Buffer | null
}

/**
 * Reads the PROXY protocol header off a socket accepted with
 * `pauseOnConnect`, then stops reading so that every later byte stays in the
 * kernel for the worker that gets the socket. `done` runs once with the
 * header, or never: a missing or malformed header, an early close or silence
 * for `timeoutMs` destroy the socket without a byte sent (R32).
 *
 * @example
 * readProxyHeader(socket, 5000, ({ header, rest }) => handOff(socket, header, rest))
 */
export function readProxyHeader (socket: Socket, timeoutMs: number, done: (read: ProxyRead) => void): void {
  let buffered: Buffer | null = null
  const timer = setTimeout(fail, timeoutMs)

  function cleanup (): void {
    clearTimeout(timer)
    socket.removeListener('data', onData)
    socket.removeListener('end', fail)
    socket.removeListener('error', fail)
    socket.removeListener('close', fail)
  }

  function fail (): void {
    cleanup()
    socket.destroy()
  }

  function onData (chunk: Buffer): void {
    buffered = buffered === null ? chunk : Buffer.concat([buffered, chunk])
    const result = parseProxyHeader(buffered)
    if (result.status === 'incomplete') {
      if (buffered.length > MAX_HEADER_BYTES) fail()
      return
    }
    if (result.status === 'invalid') {
      fail()
      return
    }
    cleanup()
    stopReading(socket)
    const rest = buffered.length > result.consumed ? buffered.subarray(result.consumed) : null
    done({ header: result.header, rest })
  }

  socket.on('data', onData)
  socket.on('end', fail)
  socket.on('error', fail)
  socket.on('close', fail)
  // pauseOnConnect left the socket explicitly paused: a 'data' listener alone does not start reads.
  socket.resume()
}

/**
 * Stops the socket's reads for good in this process. `socket.pause()` alone
 * is not enough: the stream would call `_read()` again and libuv would keep
 * reading into the primary, and bytes read there after the hand-off are
 * dropped (Node sets the handle's `onread` to a no-op when it sends it).
 * Marking the handle as still reading keeps net.Socket from restarting it.
 */
function stopReading (socket: Socket): void {
  socket.pause()
  const handle = (socket as unknown as { _handle: { readStop?: () => number, reading?: boolean } | null })._handle
  if (handle !== null && typeof handle.readStop === 'function') {
    handle.readStop()
    handle.reading = true
  }
}

/**
 * The client address for the key and the worker: the PROXY source when the
 * peer is trusted and the header carries one (not LOCAL, not UNKNOWN),
 * otherwise null (= the socket's peer address).
 *
 * @example
 * clientAddressFrom(header, trusted(socket.remoteAddress ?? ''))
 */
export function clientAddressFrom (header: ProxyHeader, peerTrusted: boolean): string | null {
  if (!peerTrusted || header.command !== 'PROXY' || header.family === 'UNKNOWN') return null
  return header.sourceAddress
}
