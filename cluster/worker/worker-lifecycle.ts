import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { UpdateResult } from '../../plugin/index.js'
import type { ClusterConfig } from '../config/config-types.js'
import { proxyOptionsOf } from './worker-app.js'

/** What a serving worker runs: its app, the server it feeds, the TLS context for new connections, and the config in effect. */
export interface Serving {
  app: FastifyInstance
  server: Server
  secureContext: SecureContext | null
  log: Logger
  config: ClusterConfig
}

/**
 * After a drain request, connections handed over just before it still get
 * to send their request: the primary already routes new clients elsewhere,
 * but a client that connected a moment ago must not be refused (R40).
 */
const DRAIN_GRACE_MS = 1000

/** A replaced worker closes kept-alive HTTP connections this often while it drains (tunnels are not among them). */
const IDLE_SWEEP_MS = 1000

/** The TLS context for `config`, or null without TLS; throws when a certificate or key cannot be used. */
export function secureContextOf (config: ClusterConfig): SecureContext | null {
  const { tls } = config.listen
  return tls === null ? null : createSecureContext({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) })
}

/**
 * R40, a reload in place: the new certificate (for new connections), the
 * proxy's routes, groups, timeouts and limits (through `wsProxy.update`), the
 * request-head timeout and the log level. What can fail is done first, so a
 * failed update changes nothing.
 *
 * @example
 * const result = await applyReload(serving, config)
 */
export async function applyReload (serving: Serving, config: ClusterConfig): Promise<UpdateResult> {
  const secureContext = secureContextOf(config)
  const result = await serving.app.wsProxy.update(proxyOptionsOf(config))
  serving.secureContext = secureContext
  serving.server.headersTimeout = config.headersTimeout
  serving.log.level = config.log.level
  serving.config = config
  return result
}

/**
 * How a worker leaves. `replaced` (a reload gave its slot to a new worker):
 * open tunnels run until they end or drainTimeout, the rest get 1012 spread
 * over closeSpread, then the app closes. `stop`: the app closes at once, so
 * the plugin sends 1001 spread within shutdownTimeout (R39); a stop also cuts
 * a replaced worker's drain short. Whatever happens in close hooks, the
 * process is gone shortly after the bound of the mode it is in.
 *
 * @example
 * const exit = new WorkerExit(() => serving)
 * exit.drain('replaced')
 */
export class WorkerExit {
  private mode: 'replaced' | 'stop' | null = null
  private closing: Promise<void> | null = null
  private exitTimer: NodeJS.Timeout | null = null

  constructor (private readonly serving: () => Serving | null) {}

  /** True once the worker was asked to leave (replaced or stopping). */
  get draining (): boolean {
    return this.mode !== null
  }

  drain (mode: 'replaced' | 'stop'): void {
    if (this.mode === 'stop' || this.mode === mode) return
    const current = this.serving()
    if (current === null) process.exit(0)
    const { config, log } = current
    const earlier = this.mode
    this.mode = mode
    const bound = mode === 'stop'
      ? DRAIN_GRACE_MS + config.shutdownTimeout + 2000
      : DRAIN_GRACE_MS + config.drainTimeout + config.closeSpread + 10_000
    if (this.exitTimer !== null) clearTimeout(this.exitTimer)
    this.exitTimer = setTimeout(() => process.exit(0), bound)
    this.exitTimer.unref()
    log.debug({ mode }, 'worker draining')
    const run = mode === 'stop' ? this.stop(current, earlier === 'replaced') : this.replaced(current)
    run.catch((err: Error) => {
      log.warn({ err }, 'error while draining the worker')
      process.exit(0)
    })
  }

  private async stop (serving: Serving, wasDraining: boolean): Promise<void> {
    // A replaced worker has had its grace already; new clients went elsewhere long ago.
    if (!wasDraining) await sleep(DRAIN_GRACE_MS)
    await this.close(serving)
  }

  private async replaced (serving: Serving): Promise<void> {
    await sleep(DRAIN_GRACE_MS)
    const sweep = setInterval(() => serving.server.closeIdleConnections(), IDLE_SWEEP_MS)
    try {
      serving.server.closeIdleConnections()
      await serving.app.wsProxy.drain(serving.config.drainTimeout)
    } finally {
      clearInterval(sweep)
    }
    await this.close(serving)
  }

  private async close (serving: Serving): Promise<void> {
    this.closing ??= (async () => {
      try {
        await serving.app.close()
      } catch (err) {
        serving.log.warn({ err }, 'error while closing the worker app')
      }
      serving.server.closeAllConnections()
      process.exit(0)
    })()
    await this.closing
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
