import cluster, { type Worker } from 'node:cluster'
import { chmodSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import { normalizeAddress } from '../../plugin/internal.js'
import { createAdminServer, type AdminHandlers, type ReloadOutcome } from './admin-server.js'
import { ClusterMetrics } from './cluster-metrics.js'
import type { ClusterConfig } from '../config/config-types.js'
import { CrashBackoff } from './crash-backoff.js'
import { clientAddressFrom, readProxyHeader } from './proxy-protocol-reader.js'
import { claimRunState, releaseRunState, type RunState } from '../run-state.js'
import { appDigest } from './reload-plan.js'
import { reloadWorkers } from './reload-coordinator.js'
import { reclaimInFlight } from './socket-handoff.js'
import { collectStatus } from './status-collector.js'
import { createTrustChecker } from '../config/trusted-proxies.js'
import { drainWorker, startWorker, type WorkerInfo } from './worker-process.js'
import { WorkerSlots } from './worker-slots.js'

/** A client that connects and sends no PROXY header within this time is closed (R32). */
const PROXY_HEADER_TIMEOUT_MS = 5000

export interface PrimaryOptions {
  config: ClusterConfig
  /** Re-reads and validates the config for a reload; throws ConfigError when invalid. */
  loadConfig: () => Promise<ClusterConfig>
  runState: RunState | null
  log: Logger
  pretty: boolean
  /** Called by `POST /stop` on the control socket; the CLI treats it like SIGTERM. */
  requestStop: (reason: string) => void
}

/**
 * The primary process: accepts TCP connections, picks the sticky worker slot
 * and hands the socket over, replaces dead workers in their slot, rolls
 * workers on reload and drains them on stop. It does no per-connection
 * logging or JSON work.
 *
 * @example
 * const primary = new Primary({ config, loadConfig, runState, log, pretty: false })
 * await primary.start()
 */
export class Primary {
  state: 'starting' | 'ready' | 'reloading' | 'stopping' = 'starting'
  config: ClusterConfig
  readonly workers = new Map<Worker, WorkerInfo>()
  readonly slots: WorkerSlots
  readonly startedAt = Date.now()
  accepted = 0
  restarts = 0
  private readonly options: PrimaryOptions
  private readonly log: Logger
  private readonly backoff = new CrashBackoff()
  private readonly respawnTimers = new Set<NodeJS.Timeout>()
  private readonly listener: Server
  private admin: HttpServer | null = null
  private control: HttpServer | null = null
  private readonly metrics: ClusterMetrics
  private stopping: Promise<number> | null = null
  /** Digest of the running `app` file: a reload that finds it changed replaces the workers. */
  private appDigest: string | null

  constructor (options: PrimaryOptions) {
    this.options = options
    this.config = options.config
    this.appDigest = appDigest(options.config.app)
    this.log = options.log
    this.slots = new WorkerSlots(Array.from({ length: options.config.workers }, (_, i) => i))
    this.metrics = new ClusterMetrics(() => ({
      workers: [...this.workers.values()].filter((w) => w.state === 'serving').length,
      draining: [...this.workers.values()].filter((w) => w.state === 'draining').length,
      restarts: this.restarts,
      handedOff: this.slots.handedOff,
      dropped: this.slots.dropped,
      waiting: this.slots.waitingCount
    }))
    this.listener = createServer({ pauseOnConnect: true }, this.connectionHandler())
    cluster.on('exit', (worker, code, signal) => this.onWorkerExit(worker, code, signal))
  }

  /** The address the client listener is bound to (after start). */
  get address (): AddressInfo {
    return this.listener.address() as AddressInfo
  }

  get adminAddress (): AddressInfo | null {
    return this.admin === null ? null : this.admin.address() as AddressInfo
  }

  /** Starts every worker, then the listeners. Throws (after cleaning up) when a worker or a listener cannot start. */
  async start (): Promise<void> {
    const { config } = this
    try {
      // Admin first, so /livez answers and /readyz says 503 "starting" while workers boot.
      if (this.options.runState !== null) {
        claimRunState(this.options.runState)
        this.control = createAdminServer(this.handlers(), { control: true })
        await listen(this.control, { path: this.options.runState.controlSocket })
        // Reload and stop are for the owner only, whatever the umask.
        chmodSync(this.options.runState.controlSocket, 0o600)
      }
      if (config.admin !== null) {
        this.admin = createAdminServer(this.handlers(), { control: false })
        await listen(this.admin, { port: config.admin.port, host: config.admin.host })
        const admin = this.admin.address() as AddressInfo
        this.log.info({ admin: `${admin.address}:${admin.port}`, adminPort: admin.port }, 'admin listening')
      }
      const started = await Promise.all(this.slots.ids.map((slot) => this.spawn(config, slot)))
      for (const info of started) this.slots.assign(info.slot, info.worker)
      await listen(this.listener, { port: config.listen.port, host: config.listen.host })
      // Accept errors (EMFILE, ENFILE) must not kill the primary; log them at most once a second.
      let lastAcceptError = 0
      this.listener.on('error', (err) => {
        if (Date.now() - lastAcceptError < 1000) return
        lastAcceptError = Date.now()
        this.log.error({ err: err.message }, 'accept failed')
      })
    } catch (err) {
      await this.stop('start failed')
      throw err
    }
    this.state = 'ready'
  }

  private connectionHandler (): (socket: Socket) => void {
    const slots = this.slots
    if (!this.config.listen.proxyProtocol) {
      return (socket) => {
        this.accepted++
        const peer = socket.remoteAddress
        if (peer === undefined) socket.destroy()
        else slots.route(normalizeAddress(peer), { socket, clientAddress: null, head: null })
      }
    }
    const trusted = createTrustChecker(this.config.listen.trustedProxies)
    return (socket) => {
      this.accepted++
      const peerRaw = socket.remoteAddress
      if (peerRaw === undefined) {
        socket.destroy()
        return
      }
      const peer = normalizeAddress(peerRaw)
      readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS, ({ header, rest }) => {
        const clientAddress = clientAddressFrom(header, trusted(peer))
        const key = clientAddress === null ? peer : normalizeAddress(clientAddress)
        slots.route(key, { socket, clientAddress, head: rest })
      })
    }
  }

  private async spawn (config: ClusterConfig, slot: number): Promise<WorkerInfo> {
    return await startWorker(config, slot, this.options.pretty, (info) => this.workers.set(info.worker, info))
  }

  private onWorkerExit (worker: Worker, code: number | null, signal: string | null): void {
    const info = this.workers.get(worker)
    if (info === undefined) return
    this.workers.delete(worker)
    const servedSlot = this.slots.release(worker)
    // Sockets Node still had queued for the dead worker wait for the slot's next worker.
    const { requeue, closed } = reclaimInFlight(worker)
    for (const handoff of requeue) this.slots.deliver(info.slot, handoff)
    if (requeue.length > 0 || closed > 0) {
      this.log.warn({ slot: info.slot, workerPid: info.pid, requeued: requeue.length, closed }, 'connections on their way to a dead worker were requeued or closed')
    }
    if (info.state !== 'serving' || servedSlot === null || this.state === 'stopping') return
    this.restarts++
    const delay = this.backoff.nextDelay(info.slot, Date.now() - info.startedAt)
    const level = this.backoff.streak(info.slot) > 1 ? 'error' : 'warn'
    this.log[level]({ slot: info.slot, workerPid: info.pid, code, signal, respawnInMs: delay, crashStreak: this.backoff.streak(info.slot) },
      'worker died; replacing it in the same slot')
    this.scheduleRespawn(info.slot, delay)
  }

  private scheduleRespawn (slot: number, delay: number): void {
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer)
      // A reload may have filled the slot in the meantime.
      if (this.state === 'stopping' || this.slots.workerOf(slot) !== null) return
      this.spawn(this.config, slot).then((info) => {
        if (this.state === 'stopping' || this.slots.workerOf(slot) !== null) {
          drainWorker(info, 'stop', { ...this.config, shutdownTimeout: 0 }).catch(() => {})
          return
        }
        this.slots.assign(slot, info.worker)
        this.log.info({ slot, workerPid: info.pid }, 'worker replaced')
      }, (err: Error) => {
        if (this.state === 'stopping' || this.slots.workerOf(slot) !== null) return
        const next = this.backoff.nextDelay(slot, 0)
        this.log.error({ slot, err: err.message, respawnInMs: next, crashStreak: this.backoff.streak(slot) }, 'replacement worker failed to start')
        this.scheduleRespawn(slot, next)
      })
    }, delay)
    this.respawnTimers.add(timer)
  }

  /**
   * R40: re-reads the config; if valid, the workers apply it in place, or are
   * replaced slot by slot when something needs a new process (see
   * reloadWorkers). An invalid config, or a new worker that cannot start,
   * leaves the running workers in place.
   */
  async reload (): Promise<ReloadOutcome> {
    if (this.state !== 'ready') return { ok: false, error: `cannot reload while ${this.state}` }
    this.state = 'reloading'
    try {
      let next: ClusterConfig
      try {
        next = await this.options.loadConfig()
      } catch (err) {
        const problems = (err as { problems?: Array<{ path: string, message: string }> }).problems
        for (const problem of problems ?? []) this.log.error({ path: problem.path }, `config: ${problem.path}: ${problem.message}`)
        this.log.error({ err: (err as Error).message }, 'reload rejected: the config is invalid; the cluster keeps running unchanged')
        return problems === undefined ? { ok: false, error: (err as Error).message } : { ok: false, problems, error: 'invalid config' }
      }
      const { outcome, config, digest } = await reloadWorkers({
        running: this.config,
        runningDigest: this.appDigest,
        workers: this.workers,
        slots: this.slots,
        spawn: async (config, slot) => await this.spawn(config, slot),
        proceed: () => this.state === 'reloading',
        log: this.log
      }, next)
      this.config = config
      this.appDigest = digest
      return outcome
    } finally {
      if (this.state === 'reloading') this.state = 'ready'
    }
  }

  /**
   * R39: stops accepting, lets every worker drain up to shutdownTimeout and
   * resolves with the exit code (0). Calling it again returns the same promise.
   */
  async stop (reason: string): Promise<number> {
    if (this.stopping !== null) return await this.stopping
    this.stopping = this.doStop(reason)
    return await this.stopping
  }

  private async doStop (reason: string): Promise<number> {
    this.state = 'stopping'
    this.log.info({ reason, shutdownTimeout: this.config.shutdownTimeout }, 'stopping: no new connections; draining workers')
    for (const timer of this.respawnTimers) clearTimeout(timer)
    this.respawnTimers.clear()
    if (this.listener.listening) this.listener.close()
    this.slots.closeWaiting()
    // Workers still draining after a reload are told too: a stop cuts their drain short.
    await Promise.all([...this.workers.values()].map((info) => drainWorker(info, 'stop', this.config)))
    await Promise.all([closeServer(this.admin), closeServer(this.control)])
    if (this.options.runState !== null) releaseRunState(this.options.runState)
    this.log.info('stopped')
    return 0
  }

  /** A second stop signal: no more waiting. */
  forceStop (): void {
    for (const info of this.workers.values()) info.worker.process.kill('SIGKILL')
    if (this.options.runState !== null) releaseRunState(this.options.runState)
  }

  private handlers (): AdminHandlers {
    return {
      // A reload keeps serving throughout, so it stays ready.
      isReady: () => this.state === 'ready' || this.state === 'reloading',
      readinessText: () => this.state === 'stopping' ? 'draining' : this.state,
      status: async () => await collectStatus(this),
      metrics: async () => ({ contentType: this.metrics.contentType, body: await this.metrics.text() }),
      reload: async () => await this.reload(),
      stop: () => {
        setImmediate(() => this.options.requestStop('ws-cluster stop'))
        return { shutdownTimeout: this.config.shutdownTimeout }
      }
    }
  }
}

async function listen (server: Server | HttpServer, options: { port?: number, host?: string, path?: string }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options, () => {
      server.removeListener('error', reject)
      resolve()
    })
  })
}

async function closeServer (server: HttpServer | null): Promise<void> {
  if (server === null || !server.listening) return
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}
