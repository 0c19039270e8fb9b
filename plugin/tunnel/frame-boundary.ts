/**
 * Follows the WebSocket frame boundaries of one direction of a tunnel by
 * reading frame headers only (RFC 6455 §5.2): the payload is never looked
 * at, copied or unmasked, and the state is a handful of numbers, so a header
 * split over several chunks costs nothing extra. It is what lets the proxy
 * put a close frame of its own into a stream without landing inside a frame.
 *
 * The per-chunk cost is one comparison while a chunk lies inside a payload,
 * and a few byte reads per frame header otherwise.
 *
 * @example
 * const boundary = new FrameBoundary()
 * boundary.skip(chunk)                 // relaying: just follow along
 * const at = boundary.toBoundary(next) // closing: where the current frame ends in `next` (-1: not in it)
 */
export class FrameBoundary {
  /** Payload bytes of the current frame still to come. */
  private left = 0
  /** Header bytes of the next frame read so far: 0 means at a boundary (when `left` is 0 too). */
  private seen = 0
  /** Length of the header being read (2 to 14), known once its second byte is. */
  private headerLength = 2
  /** Where the extended payload length ends within the header (2: none, 4: 16-bit, 10: 64-bit). */
  private lengthEnd = 2
  /** Payload length being assembled from the header. */
  private length = 0
  /** Opcode of the frame whose header was read last. */
  private opcode = 0
  /** Close frames (opcode 8) whose header has been read in this direction. */
  closeFrames = 0

  /** True between two frames (no header byte and no payload byte of a frame pending). */
  get atBoundary (): boolean {
    return this.left === 0 && this.seen === 0
  }

  /** Follows `chunk` while it is relayed unchanged. */
  skip (chunk: Buffer): void {
    const n = chunk.length
    if (this.left >= n) {
      this.left -= n
      return
    }
    this.advance(chunk, 0, false)
  }

  /**
   * Follows `chunk` from `from` up to the first frame boundary and returns
   * its offset (`from` itself when already at one, `chunk.length` when the
   * frame ends exactly with the chunk), or -1 when the chunk ends inside a
   * frame (the whole chunk has then been followed).
   */
  toBoundary (chunk: Buffer, from = 0): number {
    return this.advance(chunk, from, true)
  }

  private advance (chunk: Buffer, start: number, stop: boolean): number {
    const n = chunk.length
    let i = start
    while (i < n) {
      if (this.left > 0) {
        const rest = n - i
        if (this.left >= rest) {
          this.left -= rest
          i = n
          break
        }
        i += this.left
        this.left = 0
        if (stop) return i
        continue
      }
      if (stop && this.seen === 0) return i
      this.header(chunk[i] as number)
      i++
      if (stop && this.left === 0 && this.seen === 0) return i
    }
    return this.left === 0 && this.seen === 0 ? n : -1
  }

  /** One header byte: FIN/opcode, MASK/length, extended length, masking key. */
  private header (byte: number): void {
    const at = this.seen++
    if (at === 0) {
      this.opcode = byte & 0x0f
      return
    }
    if (at === 1) {
      const len7 = byte & 0x7f
      this.lengthEnd = len7 === 126 ? 4 : len7 === 127 ? 10 : 2
      this.length = len7 < 126 ? len7 : 0
      this.headerLength = this.lengthEnd + ((byte & 0x80) === 0 ? 0 : 4)
    } else if (at < this.lengthEnd) {
      // Multiplying keeps lengths above 2^32 exact (up to 2^53, far beyond any frame a peer can send).
      this.length = this.length * 256 + byte
    }
    if (this.seen === this.headerLength) {
      this.seen = 0
      this.left = this.length
      if (this.opcode === 8) this.closeFrames++
    }
  }
}
