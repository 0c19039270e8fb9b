import net from 'node:net'
import { CLIENT_ACCEPT, FrameCounter, upgradeRequest } from './ws-frames.js'

/**
 * One load-client WebSocket connection over a raw `net` socket. Reads go into a
 * single buffer shared by every connection (`onread`), which is safe because a
 * read is fully handled before the next one starts, and keeps 5,000 idle
 * connections from costing the client 64 KiB each.
 */

const shared = Buffer.allocUnsafe(256 * 1024)
const requests = new Map<string, Buffer>()

export class RawConnection {
  readonly socket: net.Socket
  /** Called with the number of whole frames that arrived in one read. */
  onFrames: (frames: number) => void = () => {}
  /** Called once when the connection fails or closes before being told to. */
  onFailure: (reason: string) => void = () => {}
  /** performance.now() of the last send: the closed loop keeps it here to avoid a side table. */
  sentAt = 0
  private readonly counter = new FrameCounter()
  private handshake = ''
  private upgraded = false
  private closing = false
  private failed = false
  private readonly ready: Promise<void>

  constructor (port: number, host = '127.0.0.1') {
    let resolveReady!: () => void
    let rejectReady!: (err: Error) => void
    this.ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
    const hostHeader = `${host}:${port}`
    let request = requests.get(hostHeader)
    if (request === undefined) {
      request = upgradeRequest(hostHeader)
      requests.set(hostHeader, request)
    }
    const sendRequest = request
    this.socket = net.connect({
      port,
      host,
      noDelay: true,
      onread: {
        buffer: shared,
        callback: (nread: number, buf: Uint8Array): boolean => {
          if (this.upgraded) {
            const frames = this.counter.feed(buf as Buffer, 0, nread)
            if (frames < 0) this.fail('malformed frame from the proxy')
            else if (frames > 0) this.onFrames(frames)
            return true
          }
          this.handshake += (buf as Buffer).toString('latin1', 0, nread)
          const end = this.handshake.indexOf('\r\n\r\n')
          if (end === -1) {
            if (this.handshake.length > 16384) this.fail('handshake answer too long')
            return true
          }
          const head = this.handshake.slice(0, end)
          if (!head.startsWith('HTTP/1.1 101') || !head.includes(CLIENT_ACCEPT)) {
            const status = head.split('\r\n', 1)[0]
            this.fail(`upgrade refused: ${status}`)
            rejectReady(new Error(`upgrade refused: ${status}`))
            return true
          }
          this.upgraded = true
          const rest = Buffer.from(this.handshake.slice(end + 4), 'latin1')
          this.handshake = ''
          resolveReady()
          if (rest.length > 0) {
            const frames = this.counter.feed(rest, 0, rest.length)
            if (frames > 0) this.onFrames(frames)
          }
          return true
        }
      }
    }, () => this.socket.write(sendRequest))
    this.socket.on('error', (err) => {
      this.fail(err.message)
      rejectReady(err)
    })
    this.socket.on('close', () => {
      if (!this.upgraded) rejectReady(new Error('closed before the upgrade'))
      if (!this.closing) this.fail('closed by the peer')
    })
  }

  /** Resolves once the 101 arrived; rejects on any other answer or a socket error. */
  opened (): Promise<void> {
    return this.ready
  }

  send (frame: Buffer): void {
    this.socket.write(frame)
  }

  /** Ends the connection the polite way and resolves once the socket closed (or after `timeoutMs`, destroyed). */
  close (timeoutMs = 5000): Promise<void> {
    this.closing = true
    if (this.socket.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs)
      this.socket.once('close', () => { clearTimeout(timer); resolve() })
      this.socket.end()
    })
  }

  private fail (reason: string): void {
    if (this.failed || this.closing) return
    this.failed = true
    this.socket.destroy()
    this.onFailure(reason)
  }
}

export interface OpenResult {
  connections: RawConnection[]
  errors: number
  firstError: string | null
}

/**
 * Opens `count` connections in batches of `batch` (each batch fully upgraded
 * before the next starts, so no proxy's listen backlog overflows).
 */
export async function openConnections (port: number, count: number, batch: number): Promise<OpenResult> {
  const connections: RawConnection[] = []
  let errors = 0
  let firstError: string | null = null
  for (let done = 0; done < count; done += batch) {
    const wave: RawConnection[] = []
    for (let i = 0; i < Math.min(batch, count - done); i++) wave.push(new RawConnection(port))
    const results = await Promise.allSettled(wave.map((c) => c.opened()))
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') connections.push(wave[i])
      else {
        errors++
        firstError ??= String(r.reason?.message ?? r.reason)
        wave[i].socket.destroy()
      }
    })
  }
  return { connections, errors, firstError }
}

export async function closeConnections (connections: readonly RawConnection[]): Promise<void> {
  await Promise.all(connections.map((c) => c.close()))
}
