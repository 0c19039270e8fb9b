import { setTimeout as sleep } from 'node:timers/promises'
import { cpuTicks, machineTicks, processTree } from './proc-stats.js'

/**
 * On a shared machine other people's builds and tests come in bursts. Before a
 * measured window the run waits — within a budget for the whole run — until
 * processes that are not ours have used less than `limit` of the machine for a
 * short while, so fewer windows need repeating or flagging. The figures are
 * still checked afterwards: the gate only improves the odds.
 */
export class QuietGate {
  private spentMs = 0

  constructor (
    private readonly budgetMs: number,
    private readonly limit: number,
    private readonly maxWaitMs = 15_000,
    private readonly sampleMs = 500
  ) {}

  /** Milliseconds waited so far in this run. */
  get waitedMs (): number {
    return this.spentMs
  }

  /** Waits until others are quiet, at most `maxWaitMs` and never past the run's budget; returns the wait in ms. */
  async wait (ourRoots: readonly number[]): Promise<number> {
    const started = performance.now()
    const deadline = started + Math.min(this.maxWaitMs, this.budgetMs - this.spentMs)
    const ours = ourRoots.filter((pid) => pid > 0).flatMap((pid) => processTree(pid))
    while (performance.now() < deadline) {
      const m0 = machineTicks()
      const o0 = cpuTicks(ours)
      await sleep(this.sampleMs)
      const m1 = machineTicks()
      const others = Math.max(0, (m1.busy - m0.busy) - (cpuTicks(ours) - o0)) / Math.max(1, m1.total - m0.total)
      if (others <= this.limit) break
    }
    const waited = performance.now() - started
    this.spentMs += waited
    return waited
  }
}
