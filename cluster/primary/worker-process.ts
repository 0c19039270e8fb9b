import cluster, { type Worker } from 'node:cluster'
import { fileURLToPath } from 'node:url'
import type { ClusterConfig } from '../config/config-types.js'
import { WorkerStartError } from '../cluster-errors.js'
import { isClusterMessage, type SetupMessage, type WorkerToPrimary } from '../ipc-messages.js'

/** Longest a new worker may take to load the config, the plugins and the user app. */
const WORKER_START_TIMEOUT_MS = 30_000

/** The primary's record of one worker process. */
export interface WorkerInfo {
  worker: Worker
  slot: number
  pid: number
  startedAt: number
  state: 'starting' | 'serving' | 'draining'
}

/**
 * The node flags workers are forked with. V8 lets a process's young
 * generation grow to 16 MiB per semi-space after a burst of allocation (a
 * reconnect storm opening thousands of tunnels is one) and keeps it. In a
 * worker that then holds those tunnels idle, that is RSS spent on nothing:
 * bench W3 measured 11.6 KiB per idle tunnel in a worker with V8's default
 * and 7.5 KiB with a 1 MiB ceiling. Objects of a tunnel live as long as the
 * tunnel, so promoting them early costs nothing; the per-chunk garbage of
 * the byte path dies young either way.
 *
 * An operator's own choice wins: a `--max-semi-space-size` in the primary's
 * node flags or in NODE_OPTIONS (which workers inherit) is left alone.
 *
 * @example
 * cluster.setupPrimary({ exec, execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) })
 */
export const WORKER_SEMI_SPACE_MIB = 1

const SEMI_SPACE_FLAG = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/

export function workerExecArgv (execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const chosen = execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) || SEMI_SPACE_FLAG.test(nodeOptions ?? '')
  return chosen ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]
}

let configured = false

function configure (): void {
  if (configured) return
  configured = true
  // Workers run worker.js directly rather than re-running the CLI entry.
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('../worker/worker.js', import.meta.url)),
    args: [],
    execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS)
  })
}

/**
 * Forks a worker for `slot`, sends it the config and resolves once it is
 * ready to serve; rejects (and makes sure the process is gone) when it fails
 * to start, dies, or takes longer than `timeoutMs`.
 *
 * @example
 * const info = await startWorker(config, 0, pretty)
 * slots.assign(0, info.worker)
 */
export function startWorker (config: ClusterConfig, slot: number, pretty: boolean, onFork: (info: WorkerInfo) => void, timeoutMs = WORKER_START_TIMEOUT_MS): Promise<WorkerInfo> {
  configure()
  const worker = cluster.fork({ WS_CLUSTER_SLOT: String(slot) })
  // A send racing the worker's death emits 'error' on it; the 'exit' handlers deal with the death itself.
  worker.on('error', () => {})
  const info: WorkerInfo = { worker, slot, pid: worker.process.pid ?? 0, startedAt: Date.now(), state: 'starting' }
  onFork(info)
  const setup: SetupMessage = { type: 'ws-cluster:setup', config, slot, pretty }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new WorkerStartError(slot, `not ready within ${timeoutMs} ms`)), timeoutMs)
    function cleanup (): void {
      clearTimeout(timer)
      worker.removeListener('message', onMessage)
      worker.removeListener('exit', onExit)
    }
    function fail (err: Error): void {
      cleanup()
      if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill('SIGKILL')
      reject(err)
    }
    function onMessage (message: unknown): void {
      if (!isClusterMessage(message)) return
      const msg = message as WorkerToPrimary
      if (msg.type === 'ws-cluster:hello') {
        worker.send(setup, (err) => { if (err !== null && err !== undefined) fail(err) })
      } else if (msg.type === 'ws-cluster:ready') {
        cleanup()
        info.state = 'serving'
        resolve(info)
      } else if (msg.type === 'ws-cluster:failed') {
        fail(new WorkerStartError(slot, msg.error))
      }
    }
    function onExit (code: number | null, signal: string | null): void {
      fail(new WorkerStartError(slot, `exited during start (code ${String(code)}, signal ${String(signal)})`))
    }
    worker.on('message', onMessage)
    worker.on('exit', onExit)
  })
}

/** The timeouts a drain is bounded by (the config in effect). */
export type DrainTimes = Pick<ClusterConfig, 'shutdownTimeout' | 'drainTimeout' | 'closeSpread'>

/**
 * Asks a worker to leave and makes sure it is gone a little after its bound
 * even if it hangs. `replaced` (R40): its tunnels run until they end or
 * drainTimeout, then get 1012 spread over closeSpread. `stop` (R39): 1001
 * spread within shutdownTimeout; sent to a worker already draining after a
 * reload, it cuts that drain short (and this call's shorter bound applies).
 *
 * @example
 * drainWorker(oldInfo, 'replaced', config)
 */
export function drainWorker (info: WorkerInfo, mode: 'stop' | 'replaced', times: DrainTimes): Promise<void> {
  info.state = 'draining'
  const { worker } = info
  return new Promise((resolve) => {
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) {
      resolve()
      return
    }
    // The worker's own grace (1 s), its bound and its exit margin, then a bit more.
    const bound = mode === 'stop' ? times.shutdownTimeout + 5000 : times.drainTimeout + times.closeSpread + 15_000
    const killTimer = setTimeout(() => worker.process.kill('SIGKILL'), bound)
    worker.once('exit', () => {
      clearTimeout(killTimer)
      resolve()
    })
    if (worker.isConnected()) {
      worker.send({ type: 'ws-cluster:drain', mode }, (err) => { if (err !== null && err !== undefined) worker.process.kill('SIGKILL') })
    } else {
      worker.process.kill('SIGKILL')
    }
  })
}
