import { createHash } from 'node:crypto'

/**
 * The few pieces of RFC 6455 the load client and the echo backend need. They are
 * hand-written instead of using `ws` because the bench must spend as little CPU
 * as possible outside the proxy under test: frames are built once and re-sent,
 * and the reader only walks headers and counts payload bytes.
 */

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** A fixed key is fine here: the bench only needs a valid handshake, not secrecy. */
export const CLIENT_KEY = 'd3MtY2x1c3Rlci1iZW5jaA=='

/** The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptFor (key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64')
}

export const CLIENT_ACCEPT = acceptFor(CLIENT_KEY)

/**
 * The upgrade request every bench connection sends, built once.
 *
 * @example
 * socket.write(upgradeRequest('127.0.0.1:8080'))
 */
export function upgradeRequest (host: string, path = '/'): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${CLIENT_KEY}\r\n` +
    'Sec-WebSocket-Version: 13\r\n\r\n',
    'latin1'
  )
}

/** Header length of a frame carrying `size` payload bytes, without the mask key. */
export function headerLength (size: number): number {
  if (size < 126) return 2
  if (size <= 0xffff) return 4
  return 10
}

/**
 * A complete masked binary frame with `size` payload bytes, as a client sends it.
 * The default mask key is zero: still a valid masked frame that every proxy must
 * treat like any other (a proxy that parses frames unmasks it as usual), but it
 * lets the echo backend skip the XOR, which at 64 KiB would otherwise make the
 * backend, not the proxy, the busiest process on two cores.
 *
 * @example
 * const frame = maskedBinaryFrame(64)
 * socket.write(frame) // may be re-sent as often as needed
 */
export function maskedBinaryFrame (size: number, maskKey = 0): Buffer {
  const head = headerLength(size)
  const frame = Buffer.allocUnsafe(head + 4 + size)
  frame[0] = 0x82
  if (head === 2) {
    frame[1] = 0x80 | size
  } else if (head === 4) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(size, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(0, 2)
    frame.writeUInt32BE(size, 6)
  }
  frame.writeUInt32BE(maskKey >>> 0, head)
  const payloadStart = head + 4
  for (let i = 0; i < size; i++) {
    const plain = (i * 31 + 7) & 0xff
    frame[payloadStart + i] = plain ^ frame[head + (i & 3)]
  }
  return frame
}

/** Bytes of the unmasked frame a server answers a `size`-byte message with. */
export function serverFrameLength (size: number): number {
  return headerLength(size) + size
}

/**
 * Counts whole unmasked server frames in a byte stream without copying: it only
 * parses headers (which may be split across reads) and skips payload bytes.
 * Anything that is not a final binary frame without mask is a protocol error.
 */
export class FrameCounter {
  private remaining = 0
  private header = Buffer.alloc(10)
  private headerHave = 0
  private headerNeed = 2

  /** Feeds `length` bytes of `buf` from `start`; returns frames completed, or -1 on a malformed frame. */
  feed (buf: Buffer, start: number, length: number): number {
    let frames = 0
    let i = start
    const end = start + length
    while (i < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - i)
        this.remaining -= take
        i += take
        if (this.remaining === 0) frames++
        continue
      }
      this.header[this.headerHave++] = buf[i++]
      if (this.headerHave === 2) {
        if (this.header[0] !== 0x82 || (this.header[1] & 0x80) !== 0) return -1
        const len7 = this.header[1] & 0x7f
        this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2
      }
      if (this.headerHave < this.headerNeed) continue
      const len7 = this.header[1] & 0x7f
      const size = len7 === 126
        ? this.header.readUInt16BE(2)
        : len7 === 127 ? this.header.readUInt32BE(6) : len7
      this.headerHave = 0
      this.headerNeed = 2
      if (size === 0) frames++
      else this.remaining = size
    }
    return frames
  }
}
