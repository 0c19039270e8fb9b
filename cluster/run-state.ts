import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path'

/**
 * Where a running cluster can be found by `ws-cluster reload | stop | status`
 * (R63). The run folder is `$WS_CLUSTER_RUN_DIR` when set, else
 * `.ws-cluster/` next to the config file (the current folder without one);
 * ws-cluster keeps it private: created 0700, tightened to 0700 when it is
 * looser, refused when it belongs to another user.
 *
 * Its files are named after the config file and a hash of its absolute path
 * (`ws-cluster.config-1a2b3c4d.pid`, `.sock`), so two configs in one folder,
 * or sharing one WS_CLUSTER_RUN_DIR, never see each other's cluster. The
 * control socket (HTTP over a Unix socket) is created 0600 under a 0077 umask.
 * A socket path longer than Unix allows (~107 bytes) goes to
 * `$XDG_RUNTIME_DIR/ws-cluster/` when that is set, else to a fresh private
 * folder made with mkdtemp, whose path is recorded in the run folder
 * (`<name>.sock-path`) for the CLI: never a predictable name in a shared /tmp.
 */
export interface RunState {
  dir: string
  pidFile: string
  /** The control socket's path; null when it is recorded in `socketRecord` at start (a fresh private folder). */
  controlSocket: string | null
  /** Where the path of a control socket outside the run folder is written, for the CLI. */
  socketRecord: string
  /** The config file the state belongs to, for messages; null when started from flags alone. */
  configFile: string | null
}

const MAX_SOCKET_PATH = 100

/** `ws-cluster.config-1a2b3c4d`: readable, and unique per config file path. */
function stateName (configFile: string | null, cwd: string): string {
  const digest = createHash('sha256').update(configFile ?? `cwd:${cwd}`).digest('hex')
  const stem = configFile === null ? 'no-config' : basename(configFile, extname(configFile)).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)
  return `${stem}-${digest.slice(0, 8)}`
}

/**
 * The run folder and its files for a config file (or none).
 *
 * @example
 * runStateFor('/srv/app/ws-cluster.config.json', process.env, process.cwd()).pidFile
 * // '/srv/app/.ws-cluster/ws-cluster.config-<hash>.pid'
 */
export function runStateFor (configFile: string | null, env: NodeJS.ProcessEnv, cwd: string): RunState {
  const fromEnv = env.WS_CLUSTER_RUN_DIR
  const dir = fromEnv !== undefined && fromEnv !== ''
    ? resolve(cwd, fromEnv)
    : join(configFile === null ? cwd : dirname(configFile), '.ws-cluster')
  const name = stateName(configFile, cwd)
  let controlSocket: string | null = join(dir, `${name}.sock`)
  if (Buffer.byteLength(controlSocket) > MAX_SOCKET_PATH) {
    const runtime = env.XDG_RUNTIME_DIR
    const digest = createHash('sha256').update(`${dir}\0${name}`).digest('hex').slice(0, 16)
    const inRuntime = runtime !== undefined && isAbsolute(runtime) ? join(runtime, 'ws-cluster', `${digest}.sock`) : null
    controlSocket = inRuntime !== null && Buffer.byteLength(inRuntime) <= MAX_SOCKET_PATH ? inRuntime : null
  }
  return { dir, pidFile: join(dir, `${name}.pid`), controlSocket, socketRecord: join(dir, `${name}.sock-path`), configFile }
}

/**
 * Creates `dir` (0700) or checks an existing one: it must be a real folder
 * of this user; group and other permissions are removed.
 */
export function ensurePrivateDir (dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stat = lstatSync(dir)
  if (!stat.isDirectory()) throw new Error(`run folder ${dir} is not a folder (a symbolic link?); set WS_CLUSTER_RUN_DIR to a folder of your own`)
  const uid = process.getuid?.()
  if (uid !== undefined && stat.uid !== uid) {
    throw new Error(`run folder ${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid}); set WS_CLUSTER_RUN_DIR to a folder of your own`)
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

/** The control socket path for the CLI: fixed, or read from the record a running primary left. */
export function controlSocketOf (state: RunState): string | null {
  if (state.controlSocket !== null) return state.controlSocket
  try {
    const recorded = readFileSync(state.socketRecord, 'utf8').trim()
    return isAbsolute(recorded) ? recorded : null
  } catch {
    return null
  }
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

/**
 * Records this process as the running primary: private run folder, pid
 * file, a stale control socket left by a killed primary removed. Returns
 * the control socket path to listen on.
 */
export function claimRunState (state: RunState): string {
  ensurePrivateDir(state.dir)
  let socket = state.controlSocket
  if (socket === null) {
    socket = join(mkdtempSync(join(tmpdir(), 'ws-cluster-')), 'control.sock')
    writeFileSync(state.socketRecord, `${socket}\n`, { mode: 0o600 })
  } else {
    ensurePrivateDir(dirname(socket))
    rmSync(socket, { force: true })
  }
  writeFileSync(state.pidFile, `${process.pid}\n`, { mode: 0o644 })
  return socket
}

/** Removes the pid file and control socket (and a private socket folder) if they still belong to this process. */
export function releaseRunState (state: RunState, socket: string | null): void {
  if (readPid(state) === process.pid) rmSync(state.pidFile, { force: true })
  if (socket === null) return
  rmSync(socket, { force: true })
  if (state.controlSocket === null) {
    rmSync(dirname(socket), { recursive: true, force: true })
    rmSync(state.socketRecord, { force: true })
  }
}
