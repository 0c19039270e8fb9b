import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { onceWithin } from './timing.js'

/** RFC 6455 §1.3 sample key; its accept value is known and written out in the RFC. */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** The Sec-WebSocket-Accept for `key`, computed here independently of the plugin's own check. */
export function acceptFor (key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
}

/** A minimal valid 101 for a request that carried `key`, as a hand-written upstream sends it. */
export function switchingHead (key: string): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`
}

export interface RequestSpec {
  method?: string
  path?: string
  host?: string
  /** Header lines in wire order; replaces the default WebSocket handshake headers when `bare` is true. */
  headers?: string[]
  /** Leave out the default Upgrade/Connection/Sec-WebSocket-Key/-Version lines. */
  bare?: boolean
}

/** A request head written out by hand, so tests control every byte (order, case, duplicates). */
export function requestHead (spec: RequestSpec = {}): string {
  const defaults = spec.bare === true
    ? []
    : ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${SAMPLE_KEY}`, 'Sec-WebSocket-Version: 13']
  return [
    `${spec.method ?? 'GET'} ${spec.path ?? '/ws'} HTTP/1.1`,
    `Host: ${spec.host ?? '127.0.0.1'}`,
    ...defaults,
    ...(spec.headers ?? []),
    '', ''
  ].join('\r\n')
}

/** A parsed response head: header pairs keep wire order, case and duplicates. */
export interface ResponseHead {
  statusCode: number
  reason: string
  headers: Array<[string, string]>
  /** Bytes up to and including the blank line. */
  length: number
}

/** Every value of header `name` (case-insensitive), in order. */
export function headerValues (head: ResponseHead, name: string): string[] {
  const lower = name.toLowerCase()
  return head.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v)
}

/** Parses the response head at the start of `bytes`, or returns null while it is incomplete. */
export function parseResponseHead (bytes: Buffer): ResponseHead | null {
  const end = bytes.indexOf('\r\n\r\n')
  if (end === -1) return null
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0])
  if (status === null) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`)
  const headers: Array<[string, string]> = lines.slice(1).map(line => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon), line.slice(colon + 1).trim()]
  })
  return { statusCode: Number(status[1]), reason: status[2], headers, length: end + 4 }
}

/** A whole response read until the connection closed: head plus decoded body (chunked or not). */
export function parseResponse (bytes: Buffer): { head: ResponseHead, body: Buffer } {
  const head = parseResponseHead(bytes)
  if (head === null) throw new Error(`no complete response head in ${JSON.stringify(bytes.toString('latin1'))}`)
  let rest = bytes.subarray(head.length)
  const chunked = headerValues(head, 'transfer-encoding').some(v => /chunked/i.test(v))
  if (!chunked) return { head, body: rest }
  const parts: Buffer[] = []
  for (;;) {
    const eol = rest.indexOf('\r\n')
    if (eol === -1) throw new Error('truncated chunked body')
    const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16)
    if (size === 0) break
    parts.push(rest.subarray(eol + 2, eol + 2 + size))
    rest = rest.subarray(eol + 2 + size + 2)
  }
  return { head, body: Buffer.concat(parts) }
}

/** One WebSocket frame as a client sends it (masked), for hand-written tunnels. */
export function clientFrame (opcode: number, payload: Buffer, fin = true): Buffer {
  return frame(opcode, payload, fin, randomBytes(4))
}

/** One WebSocket frame as a server sends it (unmasked). */
export function serverFrame (opcode: number, payload: Buffer, fin = true): Buffer {
  return frame(opcode, payload, fin, null)
}

/** The header of an unmasked frame of `length` bytes, for writing a large payload in pieces. */
export function serverFrameHeader (opcode: number, length: number): Buffer {
  return frame(opcode, Buffer.alloc(0), true, null, length)
}

/**
 * The header of a masked frame of `length` bytes with an all-zero mask key
 * (valid, and it leaves the payload as is), for writing a large client
 * payload in pieces.
 */
export function clientFrameHeader (opcode: number, length: number): Buffer {
  return frame(opcode, Buffer.alloc(0), true, Buffer.alloc(4), length)
}

/** `size` bytes (a multiple of 4) of a pattern that shows any loss, duplication or reordering. */
export function patternBytes (size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return buf
}

function frame (opcode: number, payload: Buffer, fin: boolean, mask: Buffer | null, length = payload.length): Buffer {
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + extended + (mask === null ? 0 : 4))
  header[0] = (fin ? 0x80 : 0) | opcode
  header[1] = (mask === null ? 0 : 0x80) | (extended === 0 ? length : extended === 2 ? 126 : 127)
  if (extended === 2) header.writeUInt16BE(length, 2)
  if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2)
  if (mask === null) return Buffer.concat([header, payload])
  mask.copy(header, 2 + extended)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3]
  return Buffer.concat([header, body])
}

/**
 * A raw TCP client: everything the server sends is kept in `received`, so
 * tests can look at exact bytes (the 101 head, what followed it in the same
 * packet, a relayed refusal) and at when the server ended or closed.
 */
export class RawClient {
  readonly socket: Socket
  private chunks: Buffer[] = []
  /** Bytes received so far, cheap to poll while megabytes arrive. */
  byteCount = 0
  ended = false
  closed = false

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk)
      this.byteCount += chunk.length
    })
    socket.on('end', () => { this.ended = true })
    socket.on('close', () => { this.closed = true })
    socket.on('error', () => {})
  }

  /** Connects to 127.0.0.1:`port` (from `localAddress` when given). With `allowHalfOpen`, the server's FIN does not end our side. */
  static async open (port: number, opts: { allowHalfOpen?: boolean, localAddress?: string } = {}): Promise<RawClient> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false, localAddress: opts.localAddress })
    const client = new RawClient(socket)
    await onceWithin(socket, 'connect')
    return client
  }

  get received (): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)]
    return this.chunks[0] ?? Buffer.alloc(0)
  }

  write (bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)
  }

  /** Waits until `predicate` holds over what arrived so far; throws naming `what` after `timeoutMs`. */
  async waitFor (predicate: (received: Buffer) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate(this.received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.received.length} bytes`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }

  /** The first response head, once complete. */
  async head (timeoutMs = 5000): Promise<ResponseHead> {
    await this.waitFor(bytes => bytes.includes('\r\n\r\n'), 'a response head', timeoutMs)
    return parseResponseHead(this.received) as ResponseHead
  }

  /** Waits until at least `count` bytes arrived (without copying them on every poll). */
  async waitForBytes (count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.byteCount < count) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} bytes; got ${this.byteCount}`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }

  /** Resolves with everything received once the server closed the connection. */
  async untilClosed (timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms; got ${this.received.length} bytes`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    return this.received
  }

  async destroy (): Promise<void> {
    if (this.closed) return
    const closed = onceWithin(this.socket, 'close')
    this.socket.destroy()
    await closed
  }
}

/** Sends `bytes` on a new connection and returns everything received until the server closed it. */
export async function exchange (port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<Buffer> {
  const client = await RawClient.open(port)
  try {
    client.write(bytes)
    return await client.untilClosed(timeoutMs)
  } finally {
    await client.destroy()
  }
}
