import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { ENV } from './config/config-env.js'

/**
 * Where a running cluster can be found by `ws-cluster reload | stop | status`:
 *
 * - `$WS_CLUSTER_RUN_DIR` when set, else
 * - `.ws-cluster/` next to the config file, else
 * - `.ws-cluster/` in the current folder.
 *
 * It holds `ws-cluster.pid` (the primary's pid) and `ws-cluster.sock`, the
 * control socket (HTTP over a Unix socket, only reachable by users who can
 * open the folder). A socket path longer than Unix allows (~107 bytes) is
 * moved to the temp folder under a name derived from the run folder, so both
 * sides still agree on it.
 */
export interface RunState {
  dir: string
  pidFile: string
  controlSocket: string
}

const MAX_SOCKET_PATH = 100

/**
 * The run folder and its files for a config file (or none).
 *
 * @example
 * runStateFor('/srv/app/ws-cluster.config.json', process.env, process.cwd()).pidFile
 * // '/srv/app/.ws-cluster/ws-cluster.pid'
 */
export function runStateFor (configFile: string | null, env: NodeJS.ProcessEnv, cwd: string): RunState {
  const fromEnv = env[ENV.runDir]
  const dir = fromEnv !== undefined && fromEnv !== ''
    ? resolve(cwd, fromEnv)
    : join(configFile === null ? cwd : dirname(configFile), '.ws-cluster')
  let controlSocket = join(dir, 'ws-cluster.sock')
  if (Buffer.byteLength(controlSocket) > MAX_SOCKET_PATH) {
    const digest = createHash('sha256').update(dir).digest('hex').slice(0, 16)
    controlSocket = join(tmpdir(), `ws-cluster-${digest}.sock`)
  }
  return { dir, pidFile: join(dir, 'ws-cluster.pid'), controlSocket }
}

/** The pid recorded in the pid file, or null when there is none or it is unreadable. */
export function readPid (state: RunState): number | null {
  try {
    const pid = Number.parseInt(readFileSync(state.pidFile, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Records this process as the running primary; clears a stale control socket left by a killed one. */
export function claimRunState (state: RunState): void {
  mkdirSync(state.dir, { recursive: true })
  rmSync(state.controlSocket, { force: true })
  writeFileSync(state.pidFile, `${process.pid}\n`)
}

/** Removes the pid file and control socket if they still belong to this process. */
export function releaseRunState (state: RunState): void {
  if (readPid(state) === process.pid) rmSync(state.pidFile, { force: true })
  rmSync(state.controlSocket, { force: true })
}
