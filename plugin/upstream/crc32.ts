import * as zlib from 'node:zlib'

/**
 * CRC-32 (IEEE 802.3, the zlib/nginx `ngx_crc32_*` polynomial) for the hash
 * balancers. zlib.crc32 is native since Node 20.15; the table fallback keeps
 * Node 20.0–20.14 working with identical results.
 */

type Crc32Fn = (data: Uint8Array, value?: number) => number

function buildTable (): Uint32Array {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) {
      c = (c & 1) !== 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
    }
    table[n] = c >>> 0
  }
  return table
}

let table: Uint32Array | undefined

/** Table-driven CRC-32, continuing from `value` (the CRC of the bytes before `data`). */
export function crc32Portable (data: Uint8Array, value = 0): number {
  table ??= buildTable()
  let crc = (value ^ 0xFFFFFFFF) >>> 0
  for (let i = 0; i < data.length; i++) {
    crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >>> 8)
  }
  return (crc ^ 0xFFFFFFFF) >>> 0
}

const native = (zlib as { crc32?: (data: string | Uint8Array, value?: number) => number }).crc32

/**
 * CRC-32 of `data`, continuing from `value` so that
 * `crc32(b, crc32(a)) === crc32(a ‖ b)`.
 *
 * @example
 * crc32(Buffer.from('hello')) // 907060870
 */
export const crc32: Crc32Fn = native === undefined
  ? crc32Portable
  : (data, value = 0) => native(data, value)

const scratch = new Uint8Array(256)

/**
 * CRC-32 of a string taken byte-for-byte: Node decodes request headers and
 * targets as latin1, so each char code <= 0xFF is the byte nginx saw on the
 * wire. Strings with wider chars (not from the wire) are hashed as UTF-8.
 *
 * @example
 * crc32OfText('user:42')
 */
export function crc32OfText (text: string): number {
  let ascii = true
  let wide = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code > 0x7F) {
      ascii = false
      if (code > 0xFF) { wide = true; break }
    }
  }
  // zlib.crc32 encodes strings as UTF-8, which equals latin1 only for ASCII.
  if (ascii && native !== undefined) return native(text, 0)
  if (wide) return crc32(Buffer.from(text, 'utf8'))
  if (text.length <= scratch.length) {
    for (let i = 0; i < text.length; i++) scratch[i] = text.charCodeAt(i)
    return crc32(scratch.subarray(0, text.length))
  }
  return crc32(Buffer.from(text, 'latin1'))
}
