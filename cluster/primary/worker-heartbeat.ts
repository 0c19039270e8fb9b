import type { Worker } from 'node:cluster'
import { isClusterMessage, type PingMessage } from '../ipc-messages.js'

const PING: PingMessage = Object.freeze({ type: 'ws-cluster:ping' }) as PingMessage

interface Watched {
  lastAnswer: number
  onMessage: (message: unknown) => void
}

/**
 * R58: finds workers whose event loop is stuck — SIGSTOP, an endless loop
 * in a user `app`, a blocked stdout — which would otherwise keep their slot
 * and black-hole its clients. Every watched worker is pinged over IPC a few
 * times a second; one that has not answered for `timeoutMs` is reported to
 * `onSilent` once and no longer watched. The ping is a frozen constant and
 * the answer carries nothing, so this costs the workers next to nothing.
 * A `timeoutMs` of 0 watches nothing (for debugging a worker at a breakpoint).
 *
 * @example
 * const heartbeat = new WorkerHeartbeat(10_000, (worker, silentMs) => worker.process.kill('SIGKILL'))
 * heartbeat.watch(info.worker)
 */
export class WorkerHeartbeat {
  private readonly watched = new Map<Worker, Watched>()
  private readonly timer: NodeJS.Timeout | null

  constructor (private readonly timeoutMs: number, private readonly onSilent: (worker: Worker, silentMs: number) => void) {
    if (timeoutMs === 0) {
      this.timer = null
      return
    }
    // A few checks per timeout, at most two a second: a hang is found at most one interval late.
    this.timer = setInterval(() => this.tick(), Math.min(500, Math.max(50, Math.floor(timeoutMs / 4))))
    this.timer.unref()
  }

  watch (worker: Worker): void {
    if (this.timer === null || this.watched.has(worker)) return
    const entry: Watched = {
      lastAnswer: Date.now(),
      onMessage: (message) => {
        if (isClusterMessage(message) && message.type === 'ws-cluster:pong') entry.lastAnswer = Date.now()
      }
    }
    worker.on('message', entry.onMessage)
    this.watched.set(worker, entry)
  }

  unwatch (worker: Worker): void {
    const entry = this.watched.get(worker)
    if (entry === undefined) return
    worker.removeListener('message', entry.onMessage)
    this.watched.delete(worker)
  }

  /** How long since the worker last answered; null when it is not watched. */
  silenceOf (worker: Worker): number | null {
    const entry = this.watched.get(worker)
    return entry === undefined ? null : Date.now() - entry.lastAnswer
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    for (const worker of [...this.watched.keys()]) this.unwatch(worker)
  }

  private tick (): void {
    const now = Date.now()
    for (const [worker, entry] of this.watched) {
      const silent = now - entry.lastAnswer
      if (silent > this.timeoutMs) {
        this.unwatch(worker)
        this.onSilent(worker, silent)
      } else if (worker.isConnected()) {
        worker.send(PING, (err) => { if (err !== null && err !== undefined) this.unwatch(worker) })
      }
    }
  }
}
