/** `limits.connectionRate` after validation. */
export interface ConnectionRate {
  /** Tokens added per second: the sustained rate of new upgrades per client. */
  perSecond: number
  /** Bucket size: how many upgrades a client may make at once after being quiet. */
  burst: number
}

interface Bucket {
  tokens: number
  /** When `tokens` was last brought up to date (ms). */
  at: number
}

/**
 * Most clients tracked at once. A bucket costs about 100 bytes, so the bound
 * is a few MB however many addresses an attacker sends from; past it the
 * longest-idle client is forgotten, which only ever gives it a full bucket.
 */
export const MAX_TRACKED_CLIENTS = 100_000

/**
 * A token bucket per client key (nginx `limit_req` with `burst`, counted per
 * upgrade rather than per request): each upgrade takes a token, tokens come
 * back at `perSecond` up to `burst`. Buckets are brought up to date only when
 * used, and a sweep forgets those that have filled up again, since a full
 * bucket is what an unknown client gets anyway: memory follows the clients
 * active within the last `burst / perSecond` seconds.
 *
 * @example
 * const rate = new ConnectionRateLimiter({ perSecond: 5, burst: 10 })
 * const waitMs = rate.take('203.0.113.7')
 * if (waitMs > 0) refuse429(Math.ceil(waitMs / 1000))
 */
export class ConnectionRateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private timer: NodeJS.Timeout | null = null
  /** Time for an empty bucket to fill up: a bucket untouched that long is full and can go. */
  readonly refillMs: number

  constructor (private readonly rate: ConnectionRate, private readonly maxTracked = MAX_TRACKED_CLIENTS) {
    this.refillMs = Math.ceil(rate.burst / rate.perSecond * 1000)
  }

  /** Clients with a bucket now (not yet refilled and forgotten). */
  get tracked (): number {
    return this.buckets.size
  }

  /** Starts the periodic sweep (unref'd, so it never keeps a process alive). */
  start (): void {
    if (this.timer !== null) return
    const every = Math.min(60_000, Math.max(1000, this.refillMs))
    this.timer = setInterval(() => { this.sweep(Date.now()) }, every)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.buckets.clear()
  }

  /** Takes a token for `key`: 0 when it may go ahead, otherwise the ms until a token is back. */
  take (key: string, now: number = Date.now()): number {
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxTracked) this.makeRoom()
      bucket = { tokens: this.rate.burst, at: now }
    } else {
      // Re-inserting keeps the Map in least-recently-used order for makeRoom.
      this.buckets.delete(key)
      bucket.tokens = Math.min(this.rate.burst, bucket.tokens + (now - bucket.at) * this.rate.perSecond / 1000)
      bucket.at = now
    }
    this.buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil((1 - bucket.tokens) * 1000 / this.rate.perSecond)
  }

  /** Forgets every bucket that has filled up again since it was last used. */
  sweep (now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * this.rate.perSecond / 1000 >= this.rate.burst) this.buckets.delete(key)
    }
  }

  /**
   * Forgets the least recently used client. No sweep here: with the table
   * full of active clients a sweep per new client would cost a pass over the
   * whole table each time, which is the CPU an attacker would be after.
   */
  private makeRoom (): void {
    const oldest = this.buckets.keys().next()
    if (oldest.done !== true) this.buckets.delete(oldest.value)
  }
}
