import net from 'node:net'
import { acceptFor } from './ws-frames.js'

/**
 * The bench's echo backend, run in its own process (`fork`), reporting its port
 * over IPC. It speaks just enough RFC 6455 to be a real WebSocket server — it
 * validates the upgrade, unmasks every message and answers with an unmasked
 * frame — but costs far less CPU than a `ws` server because it rewrites each
 * frame in place inside the buffer it was read into: the server header is the
 * client header without the mask bit, placed where the 4 mask bytes were.
 *
 * One message is not echoed: the text `flood N` makes it send N bytes back at
 * once in 64 KiB binary messages, without waiting for the client to read
 * them — the fast upstream of W6 (slow consumer).
 */

const HEADER_END = Buffer.from('\r\n\r\n')
const FLOOD_PREFIX = 'flood '
// One 64 KiB binary frame, written as often as a flood needs: the backend's own queue holds references, not copies.
const FLOOD_FRAME = Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]), Buffer.alloc(65536, 7)])

function flood (socket: net.Socket, bytes: number): void {
  for (let sent = 0; sent < bytes; sent += 65536) socket.write(FLOOD_FRAME)
}
const KEY_RE = /\r\nsec-websocket-key:\s*([^\r\n]+)/i

function upgradeAnswer (request: string): string | null {
  if (!request.startsWith('GET ') || !/\r\nupgrade:\s*websocket/i.test(request)) return null
  const key = KEY_RE.exec(request)
  if (key === null) return null
  return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptFor(key[1].trim())}\r\n\r\n`
}

/** Echoes every complete frame in `buf`; returns the unconsumed tail, or null when all of it was used. */
function echoFrames (socket: net.Socket, buf: Buffer): Buffer | null {
  let offset = 0
  let corked = false
  while (buf.length - offset >= 2) {
    const b0 = buf[offset]
    const len7 = buf[offset + 1] & 0x7f
    const head = len7 === 126 ? 4 : len7 === 127 ? 10 : 2
    if (buf.length - offset < head + 4) break
    const size = len7 === 126
      ? buf.readUInt16BE(offset + 2)
      : len7 === 127 ? buf.readUInt32BE(offset + 6) : len7
    const total = head + 4 + size
    if (buf.length - offset < total) break
    const payload = offset + head + 4
    const m0 = buf[payload - 4]
    const m1 = buf[payload - 3]
    const m2 = buf[payload - 2]
    const m3 = buf[payload - 1]
    // A zero key (what the bench client sends) unmasks to the same bytes.
    if ((m0 | m1 | m2 | m3) !== 0) {
      for (let i = 0; i + 3 < size; i += 4) {
        buf[payload + i] ^= m0
        buf[payload + i + 1] ^= m1
        buf[payload + i + 2] ^= m2
        buf[payload + i + 3] ^= m3
      }
      const tail = size & ~3
      if (tail < size) buf[payload + tail] ^= m0
      if (tail + 1 < size) buf[payload + tail + 1] ^= m1
      if (tail + 2 < size) buf[payload + tail + 2] ^= m2
    }
    const out = payload - head
    if ((b0 & 0x0f) === 0x1 && size < 32 && buf.toString('latin1', payload, payload + FLOOD_PREFIX.length) === FLOOD_PREFIX) {
      flood(socket, Number(buf.toString('latin1', payload + FLOOD_PREFIX.length, payload + size)))
      offset += total
      continue
    }
    if ((b0 & 0x0f) === 0x8) {
      socket.end(Buffer.from([0x88, 0x00]))
      return null
    }
    buf[out] = b0
    buf[out + 1] = len7
    if (head === 4) buf.writeUInt16BE(size, out + 2)
    if (head === 10) {
      buf.writeUInt32BE(0, out + 2)
      buf.writeUInt32BE(size, out + 6)
    }
    if (!corked && total < buf.length - offset) {
      socket.cork()
      corked = true
    }
    socket.write(buf.subarray(out, offset + total))
    offset += total
  }
  if (corked) socket.uncork()
  return offset < buf.length ? buf.subarray(offset) : null
}

function handle (socket: net.Socket): void {
  socket.setNoDelay(true)
  let pending: Buffer | null = null
  let upgraded = false
  socket.on('error', () => socket.destroy())
  socket.on('end', () => socket.end())
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
    pending = null
    if (upgraded) {
      pending = echoFrames(socket, buf)
      return
    }
    const end = buf.indexOf(HEADER_END)
    if (end === -1) {
      if (buf.length > 16384) socket.destroy()
      else pending = buf
      return
    }
    const answer = upgradeAnswer(buf.toString('latin1', 0, end + 2))
    if (answer === null) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    socket.write(answer)
    upgraded = true
    if (end + 4 < buf.length) pending = echoFrames(socket, buf.subarray(end + 4))
  })
}

const server = net.createServer(handle)
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address() as net.AddressInfo
  process.send?.({ port: address.port })
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
