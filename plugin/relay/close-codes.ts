/*
 * Close codes and reasons as the relay puts them on the wire. A close one
 * side sent is passed to the other, but some codes only ever describe what
 * happened locally and must never be sent (RFC 6455 §7.4.1): 1005 (no code
 * was given), 1006 (the connection dropped without a close frame) and 1015
 * (TLS failed). A reason longer than a close frame can hold is cut rather
 * than thrown on, which is what `ws` would do with it.
 */

/** The longest close reason a frame can carry: 125 bytes of payload minus the 2-byte code. */
export const MAX_REASON_BYTES = 123

/** Codes an endpoint may send (the ones `ws` accepts in `close()`): 1000-1003, 1007-1014, 3000-4999. */
export function isSendableCode (code: number): boolean {
  return Number.isInteger(code) && (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  )
}

/**
 * The code to send to one side when the other closed with `code`: the same
 * code when it may be sent, none for 1005 (the peer gave none, so neither do
 * we), and 1001 (going away) when the peer vanished (1006), its TLS failed
 * (1015) or the code was not one a peer could send.
 */
export function forwardedCode (code: number): number | undefined {
  if (isSendableCode(code)) return code
  if (code === 1005) return undefined
  return 1001
}

/**
 * `reason` cut to at most {@link MAX_REASON_BYTES} bytes of UTF-8, at a
 * character boundary so the result is still valid UTF-8 (the receiver
 * would otherwise fail the connection with 1007).
 *
 * @example
 * cutReason('é'.repeat(100)) // 61 × 'é' (122 bytes): the 62nd would need bytes 123-124
 */
export function cutReason (reason: string | Buffer): string {
  const bytes = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason
  if (bytes.length <= MAX_REASON_BYTES) return typeof reason === 'string' ? reason : bytes.toString('utf8')
  let end = MAX_REASON_BYTES
  // Continuation bytes are 10xxxxxx: back up to the first byte of the character that does not fit.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8')
}
