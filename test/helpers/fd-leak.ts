import { readdirSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Open file descriptors of this process, from /proc (Linux). */
export function openFdCount (): number {
  return readdirSync('/proc/self/fd').length
}

/**
 * R38: waits until the process's open file descriptors are back at `baseline`
 * (closing sockets finish asynchronously), and throws if they are not within
 * `timeoutMs`. `baseline` may be a function, re-read while waiting, when what
 * may stay open changes meanwhile.
 */
export async function assertNoFdLeak (baseline: number | (() => number), timeoutMs = 3000): Promise<void> {
  const limit = typeof baseline === 'number' ? () => baseline : baseline
  const deadline = Date.now() + timeoutMs
  let count = openFdCount()
  while (count > limit() && Date.now() < deadline) {
    await sleep(25)
    count = openFdCount()
  }
  if (count > limit()) {
    throw new Error(`file descriptor leak: ${count} open, baseline ${limit()}`)
  }
}
