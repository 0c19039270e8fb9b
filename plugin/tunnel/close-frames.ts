import { randomFillSync } from 'node:crypto'

/**
 * The close frames ws-cluster sends when it ends a WebSocket itself
 * (RFC 6455 §5.5.1, §7.4.1): a status code and no reason, unmasked towards
 * the client (a server's frame) and masked towards the upstream (a
 * client's frame, which a server must reject unmasked).
 */

/** 1001 Going Away: the proxy is stopping. 1012 Service Restart: a reload or a drain ends the connection. */
export type CloseCode = 1001 | 1012

/**
 * After its close frames went out, a deliberately closed tunnel waits this
 * long for the closing handshake before its FIN: a client still reading
 * megabytes that were on their way before the close frame needs the time.
 */
export const CLOSING_HANDSHAKE_MS = 5000

/**
 * After that FIN, the sockets are destroyed this much later at most. (A
 * destroy while the peer still sends resets the connection, and the peer
 * loses what it had not read yet: the bounds are generous for that reason.)
 */
export const CLOSING_CUT_MS = 2000

/** A close frame as a server sends it: FIN + opcode 8, unmasked, the two-byte code. */
export function serverCloseFrame (code: CloseCode): Buffer {
  return Buffer.from([0x88, 0x02, code >> 8, code & 0xff])
}

/** A close frame as a client sends it: masked with a fresh random key (§5.3). */
export function clientCloseFrame (code: CloseCode): Buffer {
  const frame = Buffer.alloc(8)
  frame[0] = 0x88
  frame[1] = 0x80 | 0x02
  randomFillSync(frame, 2, 4)
  frame[6] = (code >> 8) ^ (frame[2] as number)
  frame[7] = (code & 0xff) ^ (frame[3] as number)
  return frame
}
