import type { Socket } from 'node:net'

// Client bytes buffered while the upstream is asked; beyond this the client
// is simply not read until the tunnel opens (backpressure, R15).
const EARLY_BYTES_LIMIT = 64 * 1024

/**
 * While the upstream is being asked (every attempt of one upgrade), reads the
 * client socket so that a client that goes away with a FIN (the usual way) is
 * noticed: Node leaves an upgraded socket unread, and only a reset would show
 * otherwise, so the attempt would run to its timeout and hold its limit slot.
 * What the client sends meanwhile is kept for the tunnel (R9), at most
 * EARLY_BYTES_LIMIT for the whole request, however many servers are tried. A
 * 'readable' listener is used because removing it puts the socket back to
 * its initial non-flowing state, which the tunnel's 'data' listener then
 * resumes.
 */
export class ClientWatch {
  readonly early: Buffer[] = []
  private bytes = 0
  /** What to do when the client goes: abort the attempt in progress. */
  private onGoneNow: (() => void) | null = null

  constructor (private readonly socket: Socket) {
    socket.on('readable', this.onReadable)
    socket.once('end', this.onGone)
    socket.once('close', this.onGone)
  }

  /** Runs `abort` if the client leaves while this attempt is pending (at once if it already left). */
  watch (abort: () => void): void {
    this.onGoneNow = abort
    // Gone already (during a slow onRequest/preHandler hook, or a former attempt): its 'end'/'close' will not come again.
    if (this.gone) queueMicrotask(abort)
  }

  private readonly onGone = (): void => {
    this.onGoneNow?.()
  }

  private readonly onReadable = (): void => {
    let chunk: Buffer | null
    while (this.bytes < EARLY_BYTES_LIMIT && (chunk = this.socket.read() as Buffer | null) !== null) {
      this.early.push(chunk)
      this.bytes += chunk.length
    }
  }

  stop (): void {
    this.socket.removeListener('readable', this.onReadable)
    this.socket.removeListener('end', this.onGone)
    this.socket.removeListener('close', this.onGone)
  }

  /** True when the client half-closed or is gone: nothing can be tunnelled to it any more. */
  get gone (): boolean {
    return this.socket.destroyed || this.socket.readableEnded
  }
}
