import { LRUCache } from 'lru-cache'

/** `limits.connectionRate` after validation. */
export interface ConnectionRate {
  /** Tokens added per second: the sustained rate of new upgrades per client. */
  perSecond: number
  /** Bucket size: how many upgrades a client may make at once after being quiet. */
  burst: number
}

interface Bucket {
  tokens: number
  /** When `tokens` was last brought up to date (ms, on the limiter's clock). */
  at: number
}

/**
 * Most clients tracked at once. The table is allocated for this many (a few
 * MB) and never grows, however many addresses an attacker sends from; past
 * it the least recently seen client is forgotten, which only ever gives it
 * a full bucket again.
 */
export const MAX_TRACKED_CLIENTS = 100_000

export interface ConnectionRateOptions {
  maxTracked?: number
  /** Milliseconds now; tests pass a clock of their own. */
  clock?: () => number
}

/**
 * A token bucket per client key (nginx `limit_req` with `burst`, counted per
 * upgrade rather than per request): each upgrade takes a token, tokens come
 * back at `perSecond` up to `burst`. The buckets live in lru-cache, bounded
 * in size and O(1) per upgrade. A bucket not used for the time an empty one
 * takes to fill up is full, which is what an unknown client gets anyway, so
 * it expires then (its TTL) and the periodic sweep drops it: memory follows
 * the clients active within the last `burst / perSecond` seconds.
 *
 * @example
 * const rate = new ConnectionRateLimiter({ perSecond: 5, burst: 10 })
 * const waitMs = rate.take('203.0.113.7')
 * if (waitMs > 0) refuse429(Math.ceil(waitMs / 1000))
 */
export class ConnectionRateLimiter {
  private readonly buckets: LRUCache<string, Bucket>
  private readonly clock: () => number
  private timer: NodeJS.Timeout | null = null
  /** Time for an empty bucket to fill up: a bucket untouched that long is full and can go. */
  readonly refillMs: number

  constructor (private readonly rate: ConnectionRate, options: ConnectionRateOptions = {}) {
    this.refillMs = Math.max(1, Math.ceil(rate.burst / rate.perSecond * 1000))
    this.clock = options.clock ?? Date.now
    this.buckets = new LRUCache<string, Bucket>({
      max: options.maxTracked ?? MAX_TRACKED_CLIENTS,
      ttl: this.refillMs,
      // Using a bucket is what keeps it: reading it restarts its TTL and makes it the most recently used.
      updateAgeOnGet: true,
      // No cached clock: lru-cache would otherwise read the time once per timer tick, not per call.
      ttlResolution: 0,
      perf: { now: this.clock }
    })
  }

  /** Clients with a bucket now (expired ones count until the next sweep). */
  get tracked (): number {
    return this.buckets.size
  }

  /** Starts the periodic sweep (unref'd, so it never keeps a process alive). */
  start (): void {
    if (this.timer !== null) return
    const every = Math.min(60_000, Math.max(1000, this.refillMs))
    this.timer = setInterval(() => { this.sweep() }, every)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.buckets.clear()
  }

  /** Takes a token for `key`: 0 when it may go ahead, otherwise the ms until a token is back. */
  take (key: string): number {
    const now = this.clock()
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.rate.burst, at: now }
      this.buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(this.rate.burst, bucket.tokens + (now - bucket.at) * this.rate.perSecond / 1000)
      bucket.at = now
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil((1 - bucket.tokens) * 1000 / this.rate.perSecond)
  }

  /** Forgets every bucket that has filled up again since it was last used. */
  sweep (): void {
    this.buckets.purgeStale()
  }
}
