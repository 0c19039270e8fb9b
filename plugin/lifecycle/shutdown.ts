import type { FastifyInstance } from 'fastify'
import type { CloseCause } from '../open-connection.js'
import type { ProxyRuntime } from '../proxy-runtime.js'
import { CLOSING_CUT_MS, CLOSING_HANDSHAKE_MS } from '../tunnel/close-frames.js'

// Destroyed sockets emit 'close' on a later tick; waiting this long at most
// lets the cut tunnels write their access-log lines before close resolves.
export const CUT_SETTLE_MS = 1000

/** How long, after the last close frame went out, its closing handshake may take before the cut. */
const CLOSING_MS = CLOSING_HANDSHAKE_MS + CLOSING_CUT_MS

/**
 * Fastify runs close hooks under its `pluginTimeout` (10 s by default) and
 * makes close() reject when one takes longer, so the shutdown must end, cut
 * tunnels included, within it: the time open tunnels get is
 * `shutdownTimeout`, shortened to fit; `pluginTimeout: 0` lifts the bound.
 */
export function closeHookBudget (fastify: FastifyInstance, shutdownTimeout: number): number {
  const pluginTimeout = fastify.initialConfig.pluginTimeout ?? 10_000
  if (pluginTimeout <= 0) return shutdownTimeout
  return Math.min(shutdownTimeout, Math.max(0, pluginTimeout - CUT_SETTLE_MS - 500))
}

/** Warns at registration when `closeHookBudget` will shorten an explicitly set shutdownTimeout. */
export function warnIfShortened (fastify: FastifyInstance, shutdownTimeout: number): void {
  const effective = closeHookBudget(fastify, shutdownTimeout)
  if (effective >= shutdownTimeout) return
  fastify.log.warn({ shutdownTimeout, pluginTimeout: fastify.initialConfig.pluginTimeout, effective },
    'shutdownTimeout is longer than Fastify\'s pluginTimeout lets a close hook run: open tunnels will be cut earlier; raise pluginTimeout (or set it to 0) to give them the full time')
}

async function cutWhatIsLeft (runtime: ProxyRuntime, cause: CloseCause, message: string): Promise<void> {
  if (runtime.openCount === 0) return
  runtime.log.warn({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, handshakes: runtime.attempts.size }, message)
  // Handshakes still waiting for their upstream would otherwise keep the server open until handshakeTimeout.
  for (const attempt of runtime.attempts) attempt.abort()
  for (const connection of runtime.openConnections()) connection.destroy(cause)
  await runtime.settled(Date.now() + CUT_SETTLE_MS)
}

/**
 * R39, the plugin's preClose: every open tunnel gets a 1001 close frame at a
 * frame boundary, the closes spread over `closeSpread` or over half of the
 * time they have when that is shorter (so the last ones still have time for
 * their closing handshake); what is still open when that time is over is cut.
 * Handshakes in flight may finish; their tunnels are closed as they open.
 */
export async function closeForShutdown (runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  runtime.closingAll = { code: 1001, cause: 'shutdown' }
  if (runtime.openCount === 0) return
  const spreadMs = Math.min(runtime.options.closeSpread, Math.floor(timeoutMs / 2))
  runtime.log.info({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, handshakes: runtime.attempts.size, timeoutMs, closeSpread: spreadMs },
    'closing open tunnels: 1001 close frames, spread over closeSpread')
  runtime.closeSpread(runtime.openConnections(), 1001, 'shutdown', spreadMs)
  if (await runtime.settled(Date.now() + timeoutMs)) return
  await cutWhatIsLeft(runtime, 'shutdown', 'shutdown timeout reached: cutting what is still open')
}

/**
 * R40, a replaced process's drain (`wsProxy.drain`): open tunnels keep
 * running until they end on their own or `timeoutMs` passes; then the rest
 * get a 1012 close frame, spread over `closeSpread`, and what has not closed
 * after its closing handshake is cut. New upgrades are still served (they can
 * only come on connections the process already has) and closed with the rest.
 */
export async function drainConnections (runtime: ProxyRuntime, timeoutMs: number): Promise<void> {
  if (runtime.openCount > 0) {
    runtime.log.info({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, drainTimeout: timeoutMs }, 'draining: open tunnels run until they end or drainTimeout')
  }
  // Hours of waiting: once a second is often enough to notice the last tunnel ended.
  if (await runtime.settled(Date.now() + timeoutMs, 1000)) return
  if (runtime.closing) return
  const spreadMs = runtime.options.closeSpread
  runtime.closingAll = { code: 1012, cause: 'drain' }
  runtime.log.info({ tunnels: runtime.tunnels.size, relays: runtime.relays.size, closeSpread: spreadMs }, 'drainTimeout reached: 1012 close frames, spread over closeSpread')
  runtime.closeSpread(runtime.openConnections(), 1012, 'drain', spreadMs)
  if (await runtime.settled(Date.now() + spreadMs + CLOSING_MS)) return
  if (runtime.closing) return
  await cutWhatIsLeft(runtime, 'drain', 'drain: cutting what did not close after its close frame')
}
