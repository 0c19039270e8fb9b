/**
 * A fixed-bucket latency histogram: recording is one array increment, so it can
 * sit on the load client's hot path without allocating. Two tiers keep it small:
 * 100 ns buckets up to 10 ms (where every proxy's p50 and p99 live on loopback),
 * then 100 µs buckets up to 10 s.
 *
 * @example
 * const h = new LatencyHistogram()
 * h.record(0.085) // milliseconds, as performance.now() differences are
 * h.percentileMicros(50)
 */
export class LatencyHistogram {
  private static readonly FINE_NS = 100
  private static readonly FINE_COUNT = 100_000
  private static readonly COARSE_NS = 100_000
  private static readonly COARSE_COUNT = 100_000

  private readonly fine = new Uint32Array(LatencyHistogram.FINE_COUNT)
  private readonly coarse = new Uint32Array(LatencyHistogram.COARSE_COUNT)
  count = 0
  private sumMs = 0
  private maxMs = 0

  /** Records one latency given in milliseconds. */
  record (ms: number): void {
    this.count++
    this.sumMs += ms
    if (ms > this.maxMs) this.maxMs = ms
    const ns = ms * 1e6
    const fine = Math.floor(ns / LatencyHistogram.FINE_NS)
    if (fine < LatencyHistogram.FINE_COUNT) {
      this.fine[fine]++
      return
    }
    const coarse = Math.min(LatencyHistogram.COARSE_COUNT - 1, Math.floor(ns / LatencyHistogram.COARSE_NS))
    this.coarse[coarse]++
  }

  reset (): void {
    this.fine.fill(0)
    this.coarse.fill(0)
    this.count = 0
    this.sumMs = 0
    this.maxMs = 0
  }

  /** The latency in µs below which `p` percent of the recorded values fall (bucket midpoint). */
  percentileMicros (p: number): number {
    if (this.count === 0) return NaN
    const rank = Math.max(1, Math.ceil(this.count * p / 100))
    let seen = 0
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i]
      if (seen >= rank) return (i + 0.5) * LatencyHistogram.FINE_NS / 1000
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i]
      if (seen >= rank) return (i + 0.5) * LatencyHistogram.COARSE_NS / 1000
    }
    return this.maxMs * 1000
  }

  /** The figures the report keeps, in µs. */
  summary (): LatencySummary {
    return {
      count: this.count,
      meanUs: this.count === 0 ? NaN : this.sumMs * 1000 / this.count,
      p50Us: this.percentileMicros(50),
      p99Us: this.percentileMicros(99),
      p999Us: this.percentileMicros(99.9),
      maxUs: this.maxMs * 1000
    }
  }
}

export interface LatencySummary {
  count: number
  meanUs: number
  p50Us: number
  p99Us: number
  p999Us: number
  maxUs: number
}
