/**
 * How long to wait before respawning a slot's worker that died. A worker that
 * ran for a while before dying is replaced at once; one that keeps dying soon
 * after start (a crash loop: bad user `app` plugin, port clash, out of memory
 * at boot) waits twice as long each time, up to `maxDelayMs`, so the primary
 * neither spins the CPU nor floods the log.
 *
 * @example
 * const backoff = new CrashBackoff()
 * const delay = backoff.nextDelay(slot, uptimeMs) // 0, then 250, 500, 1000, ...
 */
export class CrashBackoff {
  private readonly streaks = new Map<number, number>()

  constructor (
    private readonly baseDelayMs = 250,
    private readonly maxDelayMs = 30_000,
    /** A worker that lived at least this long is considered healthy: its slot's streak resets. */
    private readonly stableAfterMs = 10_000
  ) {}

  /** Delay before respawning `slot`, given how long its dead worker lived. */
  nextDelay (slot: number, uptimeMs: number): number {
    if (uptimeMs >= this.stableAfterMs) {
      this.streaks.set(slot, 0)
      return 0
    }
    const streak = (this.streaks.get(slot) ?? 0) + 1
    this.streaks.set(slot, streak)
    if (streak === 1) return 0
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (streak - 2))
  }

  /** Consecutive quick deaths of `slot`'s workers. */
  streak (slot: number): number {
    return this.streaks.get(slot) ?? 0
  }
}
