import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CliFlags } from './cli-args.js'
import { ENV } from '../config/config-env.js'
import { findConfigFile } from '../config/config-load.js'
import { isClusterPrimary } from '../process-identity.js'
import { controlSocketOf, isAlive, readPid, runStateFor, type RunState } from '../run-state.js'
import type { ReloadOutcome } from '../primary/admin-server.js'
import { formatReload } from './reload-format.js'
import { formatStatus } from './status-format.js'
import type { StatusReport } from '../status-report.js'

export interface ControlIo {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Extra time `stop` waits beyond the cluster's shutdownTimeout before it reports failure. */
const STOP_MARGIN_MS = 15_000

/**
 * Finds the running cluster's run folder the way `start` chose it: from
 * `--config`, `WS_CLUSTER_CONFIG`, the default file names, and
 * `WS_CLUSTER_RUN_DIR`.
 */
async function locate (flags: CliFlags, io: ControlIo): Promise<RunState> {
  const fromEnv = io.env[ENV.config]?.trim()
  const chosen = flags.config ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined)
  const file = chosen !== undefined ? resolve(io.cwd, chosen) : await findConfigFile(io.cwd)
  return runStateFor(file, io.env, io.cwd)
}

interface Reply { status: number, body: string }

function call (socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from the control socket within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

async function waitForExit (pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await sleep(100)
  }
  return !isAlive(pid)
}

/**
 * `ws-cluster reload | stop | status`: talks to the running primary over its
 * control socket, or, when there is none, signals the pid from the pid file
 * (SIGHUP = reload, SIGTERM = stop). Exit code 0 when done, 1 when no cluster
 * runs or it refused (an invalid config on reload).
 *
 * @example
 * process.exitCode = await runControlCommand('status', { json: true }, { cwd, env, stdout, stderr })
 */
export async function runControlCommand (command: 'reload' | 'stop' | 'status', flags: CliFlags, io: ControlIo): Promise<number> {
  const state = await locate(flags, io)
  const configName = state.configFile ?? '(no config file)'
  const pid = readPid(state)
  const socket = controlSocketOf(state)
  if (socket !== null && existsSync(socket)) {
    try {
      return await viaControlSocket(command, flags, io, socket)
    } catch (err) {
      if (pid === null || !isAlive(pid) || command === 'status') {
        io.stderr.write(`ws-cluster ${command}: cannot reach the cluster of config ${configName} at ${socket}: ${(err as Error).message}\n`)
        return 1
      }
    }
  }
  if (pid === null || !isAlive(pid)) {
    io.stderr.write(`ws-cluster ${command}: no running ws-cluster found for config ${configName} (looked for ${state.pidFile}${socket === null ? '' : ` and ${socket}`}).\n` +
      `Start one with: ws-cluster start${flags.config === undefined ? '' : ` --config ${flags.config}`}` +
      (io.env.WS_CLUSTER_RUN_DIR === undefined || io.env.WS_CLUSTER_RUN_DIR === '' ? '' : ` (WS_CLUSTER_RUN_DIR=${io.env.WS_CLUSTER_RUN_DIR} must be the same for start and ${command})`) + '\n')
    return 1
  }
  // R63: the pid file may be stale and its pid reused; never signal a process that is not a ws-cluster primary.
  if (isClusterPrimary(pid) === 'no') {
    io.stderr.write(`ws-cluster ${command}: the pid file ${state.pidFile} of config ${configName} names pid ${pid}, which is not a ws-cluster primary; nothing was signalled (remove the stale pid file)\n`)
    return 1
  }
  if (command === 'status') {
    io.stderr.write(`ws-cluster status: pid ${pid} runs config ${configName} but its control socket is missing; use the admin /status endpoint\n`)
    return 1
  }
  process.kill(pid, command === 'reload' ? 'SIGHUP' : 'SIGTERM')
  if (command === 'reload') {
    io.stdout.write(`sent SIGHUP to ws-cluster pid ${pid} (config ${configName}); the outcome is in its log\n`)
    return 0
  }
  io.stdout.write(`sent SIGTERM to ws-cluster pid ${pid} (config ${configName}); waiting for it to drain\n`)
  return await reportStop(pid, 10_000 + STOP_MARGIN_MS, io)
}

async function reportStop (pid: number, timeoutMs: number, io: ControlIo): Promise<number> {
  if (await waitForExit(pid, timeoutMs)) {
    io.stdout.write(`ws-cluster pid ${pid} stopped\n`)
    return 0
  }
  io.stderr.write(`ws-cluster pid ${pid} is still running after ${Math.round(timeoutMs / 1000)} s\n`)
  return 1
}

async function viaControlSocket (command: 'reload' | 'stop' | 'status', flags: CliFlags, io: ControlIo, socket: string): Promise<number> {
  if (command === 'status') {
    const reply = await call(socket, 'GET', '/status', 10_000)
    if (flags.json === true) io.stdout.write(reply.body.endsWith('\n') ? reply.body : `${reply.body}\n`)
    else io.stdout.write(formatStatus(JSON.parse(reply.body) as StatusReport))
    return reply.status === 200 ? 0 : 1
  }
  if (command === 'reload') {
    // A reload waits for every new worker to be ready: give it time.
    const reply = await call(socket, 'POST', '/reload', 300_000)
    const outcome = JSON.parse(reply.body) as ReloadOutcome
    if (outcome.ok) {
      io.stdout.write(formatReload(outcome))
      return 0
    }
    io.stderr.write(`reload failed: ${outcome.error ?? 'unknown error'}; the cluster keeps running with its previous config\n`)
    for (const problem of outcome.problems ?? []) io.stderr.write(`  ${problem.path}: ${problem.message}\n`)
    return 1
  }
  const reply = await call(socket, 'POST', '/stop', 10_000)
  const answer = JSON.parse(reply.body) as { pid: number, shutdownTimeout: number }
  io.stdout.write(`stopping ws-cluster pid ${answer.pid}; draining for up to ${Math.round(answer.shutdownTimeout / 1000)} s\n`)
  return await reportStop(answer.pid, answer.shutdownTimeout + STOP_MARGIN_MS, io)
}
