import { readdirSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Open file descriptors of this process, from /proc (Linux). */
export function openFdCount (): number {
  return readdirSync('/proc/self/fd').length
}

/**
 * R38: waits until the process's open file descriptors are back at `baseline`
 * (closing sockets finish asynchronously), and throws with the fd targets if
 * they are not within `timeoutMs`.
 */
export async function assertNoFdLeak (baseline: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let count = openFdCount()
  while (count > baseline && Date.now() < deadline) {
    await sleep(25)
    count = openFdCount()
  }
  if (count > baseline) {
    throw new Error(`file descriptor leak: ${count} open, baseline ${baseline}`)
  }
}
