import cluster, { type Worker } from 'node:cluster'
import { createServer, type AddressInfo, type Server } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import { createAdminServer, type AdminHandlers, type ReloadOutcome } from './admin-server.js'
import { ClusterMetrics } from './cluster-metrics.js'
import { ConnectionRouter } from './connection-router.js'
import type { ClusterConfig } from '../config/config-types.js'
import { CrashBackoff } from './crash-backoff.js'
import { claimRunState, releaseRunState, type RunState } from '../run-state.js'
import { appDigest } from './reload-plan.js'
import { reloadWorkers } from './reload-coordinator.js'
import { reclaimInFlight } from './socket-handoff.js'
import { collectStatus } from './status-collector.js'
import { drainWorker, startWorker, type WorkerInfo } from './worker-process.js'
import { WorkerHeartbeat } from './worker-heartbeat.js'
import { closeServer, listen } from './server-listen.js'
import { WorkerSlots } from './worker-slots.js'

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
  readonly router: ConnectionRouter
  readonly heartbeat: WorkerHeartbeat
  restarts = 0
  /** Workers killed and replaced because they stopped answering heartbeats (R58). */
  unresponsive = 0
  private readonly options: PrimaryOptions
  private readonly log: Logger
  private readonly backoff = new CrashBackoff()
  private readonly respawnTimers = new Set<NodeJS.Timeout>()
  private readonly listener: Server
  private admin: HttpServer | null = null
  private control: HttpServer | null = null
  /** The control socket's path once listening (it may live outside the run folder). */
  controlSocket: string | null = null
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
      waiting: this.slots.waitingCount,
      inFlight: this.slots.inFlightCount,
      unresponsive: this.unresponsive,
      proxyHeaders: this.router.gate
    }))
    this.router = new ConnectionRouter(options.config, this.slots, options.log)
    this.heartbeat = new WorkerHeartbeat(options.config.heartbeatTimeout, (worker, silentMs) => this.onSilent(worker, silentMs))
    this.listener = createServer({ pauseOnConnect: true }, this.router.handler)
    cluster.on('exit', (worker, code, signal) => this.onWorkerExit(worker, code, signal))
  }

  /** The address the client listener is bound to (after start). */
  get address (): AddressInfo {
    return this.listener.address() as AddressInfo
  }

  /** Connections accepted (nginx `accepts`). */
  get accepted (): number {
    return this.router.accepted
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
        this.controlSocket = claimRunState(this.options.runState)
        this.control = createAdminServer(this.handlers(), { control: true })
        // Reload and stop are for the owner only: the socket is born 0600, with no window before a chmod (R63).
        await listen(this.control, { path: this.controlSocket }, 0o177)
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

  private async spawn (config: ClusterConfig, slot: number): Promise<WorkerInfo> {
    const info = await startWorker(config, slot, this.options.pretty, (forked) => this.workers.set(forked.worker, forked))
    this.heartbeat.watch(info.worker)
    return info
  }

  /** R58: a serving worker whose event loop is stuck is killed; its exit replaces it in the same slot. */
  private onSilent (worker: Worker, silentMs: number): void {
    const info = this.workers.get(worker)
    if (info === undefined || info.state !== 'serving' || this.state === 'stopping') return
    this.unresponsive++
    this.log.error({ slot: info.slot, workerPid: info.pid, silentForMs: silentMs, heartbeatTimeout: this.config.heartbeatTimeout, queued: this.slots.queueOf(info.slot) },
      'worker stopped answering heartbeats; killing it to replace it in the same slot')
    worker.process.kill('SIGKILL')
  }

  private onWorkerExit (worker: Worker, code: number | null, signal: string | null): void {
    const info = this.workers.get(worker)
    if (info === undefined) return
    this.workers.delete(worker)
    this.heartbeat.unwatch(worker)
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
    this.heartbeat.stop()
    if (this.listener.listening) this.listener.close()
    this.slots.closeWaiting()
    // Workers still draining after a reload are told too: a stop cuts their drain short.
    await Promise.all([...this.workers.values()].map((info) => drainWorker(info, 'stop', this.config)))
    await Promise.all([closeServer(this.admin), closeServer(this.control)])
    if (this.options.runState !== null) releaseRunState(this.options.runState, this.controlSocket)
    this.log.info('stopped')
    return 0
  }

  /** A second stop signal: no more waiting. */
  forceStop (): void {
    for (const info of this.workers.values()) info.worker.process.kill('SIGKILL')
    if (this.options.runState !== null) releaseRunState(this.options.runState, this.controlSocket)
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
