import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { EventEmitter } from 'node:events'

/**
 * How much later than its deadline a timer may be seen to fire on a loaded
 * 2-core CI box (event-loop stalls, process start-up, a busy neighbour). Upper
 * bounds add it; it stays below the configured durations the tests use, so
 * a timer that fires at twice its setting still fails.
 */
export const TIMER_SLACK_MS = 1000

/**
 * How much earlier than its deadline a timer may be seen to fire: Node
 * rounds timers to whole milliseconds, and a test's clock starts a little
 * after the proxy's.
 */
export const TIMER_EARLY_MS = 25

/**
 * Asserts when a timer fired against its setting. A test cannot see the
 * exact moment the proxy armed the timer, only a window: `armedAfter`, a
 * time before which it cannot have been armed, and `armedBefore`, a time by
 * which it was. It must not fire before `armedAfter + expectedMs` (less
 * {@link TIMER_EARLY_MS}) nor after `armedBefore + expectedMs + extraMs`
 * (`extraMs`: what the behaviour line allows, such as R18's 300 ms) plus
 * {@link TIMER_SLACK_MS}.
 *
 * @example
 * const before = Date.now(); const ws = await openWs(url); const after = Date.now()
 * await onceWithin(ws, 'close', 5000)
 * assertTimer(Date.now(), { armedAfter: before, armedBefore: after }, 2000, 300, 'idle close')
 */
export function assertTimer (firedAt: number, window: { armedAfter: number, armedBefore: number }, expectedMs: number, extraMs: number, what: string): void {
  const early = firedAt - window.armedAfter
  const late = firedAt - window.armedBefore
  assert.ok(early >= expectedMs - TIMER_EARLY_MS, `${what}: fired ${early} ms after it could first have been armed, before its ${expectedMs} ms`)
  assert.ok(late <= expectedMs + extraMs + TIMER_SLACK_MS, `${what}: fired ${late} ms after it was armed at the latest; allowed ${expectedMs} + ${extraMs} ms (+${TIMER_SLACK_MS} ms slack)`)
}

/**
 * `once(emitter, event)` that gives up after `timeoutMs`, naming what it
 * waited for, so a bug that keeps the event from firing fails the test
 * instead of hanging the run.
 *
 * @example
 * await onceWithin(ws, 'close', 5000)
 */
export async function onceWithin (emitter: EventEmitter, event: string, timeoutMs = 10_000): Promise<unknown[]> {
  try {
    return await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new Error(`'${event}' did not happen within ${timeoutMs} ms`)
    throw err
  }
}
