import { RawConnection } from './raw-connection.js'

/**
 * W7's second phase: with every storm connection open, backend A is killed
 * (SIGKILL, so it says goodbye to nobody) and every client whose connection
 * closes reconnects at once to the same proxy port, as a naive client library
 * without backoff would. A failed attempt — refused, an answer other than 101,
 * closed before the 101 — is counted and retried at once, up to
 * `MAX_ATTEMPTS` per client. The phase ends when no client is reconnecting and
 * nothing has closed for `QUIET_MS`, or at the phase timeout.
 */

export const MAX_ATTEMPTS = 5
/** No close for this long after the last event means every client of A has been told. */
const QUIET_MS = 1500

export interface KillPhaseResult {
  /** Clients whose connection closed after the kill. */
  lost: number
  /** Lost clients that were open again by the end of the phase. */
  reconnected: number
  /** From the kill until the last lost client was open again, in seconds (0 when none was lost). */
  reconnectSeconds: number
  failedAttempts: number
  neverReconnected: number
  /** Reconnected clients whose new connection closed again before the end of the phase. */
  droppedAgain: number
  /** Connect() call to 101 of each successful reconnect, in ms. */
  reconnectP50Ms: number
  reconnectP99Ms: number
  firstError: string | null
}

/** The p-th percentile (0–100) of `sorted`, nearest rank, or 0 when empty. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p / 100) - 1))]
}

/**
 * Kills `killPid` and reconnects every client in `connections` that loses its
 * connection; `connections` is updated in place with the new connections, so
 * the caller closes whatever is open at the end.
 */
export async function killPhase (port: number, connections: RawConnection[], killPid: number, timeoutMs: number): Promise<KillPhaseResult> {
  const latencies: number[] = []
  let lost = 0
  let failedAttempts = 0
  let neverReconnected = 0
  let droppedAgain = 0
  let reconnecting = 0
  let lastReopenAt = 0
  let lastEventAt = 0
  let firstError: string | null = null
  let finished = false
  // Attempts still waiting for their answer when the phase ends are destroyed, so none outlives it.
  const inFlight = new Set<RawConnection>()
  const killedAt = performance.now()
  let wake: () => void = () => {}
  const settled = new Promise<void>((resolve) => { wake = resolve })

  const attempt = (index: number, tries: number): void => {
    const startedAt = performance.now()
    const conn = new RawConnection(port)
    inFlight.add(conn)
    conn.opened().then(() => {
      const now = performance.now()
      inFlight.delete(conn)
      if (finished) { conn.socket.destroy(); return }
      latencies.push(now - startedAt)
      lastReopenAt = lastEventAt = now
      reconnecting--
      connections[index] = conn
      conn.onFailure = (reason) => {
        droppedAgain++
        firstError ??= `reconnected connection dropped: ${reason}`
        lastEventAt = performance.now()
      }
    }, (err: Error) => {
      inFlight.delete(conn)
      conn.socket.destroy()
      if (finished) return
      failedAttempts++
      firstError ??= `reconnect: ${err.message}`
      lastEventAt = performance.now()
      if (tries < MAX_ATTEMPTS) {
        attempt(index, tries + 1)
        return
      }
      neverReconnected++
      reconnecting--
    })
  }

  connections.forEach((conn, index) => {
    conn.onFailure = () => {
      lost++
      reconnecting++
      lastEventAt = performance.now()
      attempt(index, 1)
    }
  })
  process.kill(killPid, 'SIGKILL')

  const timeout = setTimeout(wake, timeoutMs)
  const poll = setInterval(() => {
    const now = performance.now()
    if (reconnecting === 0 && now - Math.max(killedAt, lastEventAt) >= QUIET_MS) wake()
  }, 100)
  await settled
  clearTimeout(timeout)
  clearInterval(poll)
  finished = true
  for (const conn of inFlight) conn.socket.destroy()
  if (reconnecting > 0) {
    firstError ??= `${reconnecting} clients still reconnecting after ${timeoutMs} ms`
    neverReconnected += reconnecting
  }
  for (const conn of connections) conn.onFailure = () => {}

  latencies.sort((a, b) => a - b)
  return {
    lost,
    reconnected: latencies.length,
    reconnectSeconds: lost === 0 || lastReopenAt === 0 ? 0 : (lastReopenAt - killedAt) / 1000,
    failedAttempts,
    neverReconnected,
    droppedAgain,
    reconnectP50Ms: percentile(latencies, 50),
    reconnectP99Ms: percentile(latencies, 99),
    firstError
  }
}
