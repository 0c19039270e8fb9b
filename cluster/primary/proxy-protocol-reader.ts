import type { Socket } from 'node:net'
import { parseProxyHeader, PROXY_V1_MAX, PROXY_V2_FIXED, PROXY_V2_MAX_LENGTH, type ParseResult, type ProxyHeader } from './proxy-protocol.js'

export interface ProxyRead {
  header: ProxyHeader
  /** Bytes the client sent after the header (already read off the socket); null when none. */
  rest: Buffer | null
}

/** Why a connection was closed before its PROXY header was read. */
export type ProxyRefusal = 'invalid' | 'timeout' | 'closed'

/** The most header bytes kept for one connection: a whole v2 header of the largest accepted length. */
const MAX_HEADER_BYTES = PROXY_V2_FIXED + PROXY_V2_MAX_LENGTH

/**
 * Collects the first bytes of a connection until they hold a whole header.
 * The first chunk is parsed where it lies (a balancer sends the header in one
 * segment, so usually nothing is copied); only a header split over several
 * chunks is copied, into one buffer sized for what it can still become: 107
 * bytes for v1, the declared length for v2. Bytes past the header stay in
 * the chunk that brought them.
 */
class HeaderBytes {
  private buffer: Buffer | null = null
  private filled = 0

  /** Parses with `chunk` added; `tail` is what of `chunk` was not copied (the client's bytes, or more header). */
  add (chunk: Buffer): { result: ParseResult, view: Buffer, tail: Buffer | null } {
    if (this.buffer === null) {
      const result = parseProxyHeader(chunk)
      if (result.status !== 'incomplete') return { result, view: chunk, tail: null }
      this.buffer = Buffer.allocUnsafe(capacityFor(chunk))
    }
    let offset = 0
    let result: ParseResult = { status: 'incomplete' }
    // At most two rounds: a v2 header learns its length from its 16th byte and grows once.
    while (offset < chunk.length) {
      const room = this.buffer.length - this.filled
      const taken = Math.min(room, chunk.length - offset)
      chunk.copy(this.buffer, this.filled, offset, offset + taken)
      this.filled += taken
      offset += taken
      const view = this.buffer.subarray(0, this.filled)
      result = parseProxyHeader(view)
      if (result.status !== 'incomplete' || this.filled < this.buffer.length) break
      const needed = capacityFor(view)
      if (needed <= this.buffer.length) return { result: { status: 'invalid', reason: 'header longer than the protocol allows' }, view, tail: null }
      const grown = Buffer.allocUnsafe(needed)
      this.buffer.copy(grown, 0, 0, this.filled)
      this.buffer = grown
    }
    const tail = offset < chunk.length ? chunk.subarray(offset) : null
    return { result, view: this.buffer.subarray(0, this.filled), tail }
  }
}

/** How big a header that starts with `bytes` can get: v1 107 bytes, v2 16 + its declared length once known. */
function capacityFor (bytes: Buffer): number {
  if (bytes[0] === 0x50) return PROXY_V1_MAX // "P" of "PROXY "
  if (bytes.length < PROXY_V2_FIXED) return PROXY_V2_FIXED
  return Math.min(MAX_HEADER_BYTES, PROXY_V2_FIXED + bytes.readUInt16BE(14))
}

/**
 * Reads the PROXY protocol header off a socket accepted with
 * `pauseOnConnect`, then stops reading so that every later byte stays in the
 * kernel for the worker that gets the socket. `done` runs once with the
 * header, or `refused` once with the reason: a missing or malformed header,
 * an early close or silence for `timeoutMs` destroy the socket without a byte
 * sent (R32). At most 16 + 4096 bytes are ever kept for a connection (R60).
 *
 * @example
 * readProxyHeader(socket, 5000, ({ header, rest }) => handOff(socket, header, rest), (reason) => count(reason))
 */
export function readProxyHeader (socket: Socket, timeoutMs: number, done: (read: ProxyRead) => void, refused: (reason: ProxyRefusal) => void = () => {}): void {
  const bytes = new HeaderBytes()
  const timer = setTimeout(() => fail('timeout'), timeoutMs)
  const onClosed = (): void => fail('closed')

  function cleanup (): void {
    clearTimeout(timer)
    socket.removeListener('data', onData)
    socket.removeListener('end', onClosed)
    socket.removeListener('error', onClosed)
    socket.removeListener('close', onClosed)
  }

  function fail (reason: ProxyRefusal): void {
    cleanup()
    socket.destroy()
    refused(reason)
  }

  function onData (chunk: Buffer): void {
    const { result, view, tail } = bytes.add(chunk)
    if (result.status === 'incomplete') return
    if (result.status === 'invalid') {
      fail('invalid')
      return
    }
    cleanup()
    stopReading(socket)
    const after = view.length > result.consumed ? view.subarray(result.consumed) : null
    const rest = after === null ? tail : tail === null ? after : Buffer.concat([after, tail])
    done({ header: result.header, rest })
  }

  socket.on('data', onData)
  socket.on('end', onClosed)
  socket.on('error', onClosed)
  socket.on('close', onClosed)
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
