import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry, as `npx ws-cluster` runs it. */
export const CLI = fileURLToPath(new URL('../../cluster/cli.js', import.meta.url))
const CLIENT_ADDRESS_MODULE = fileURLToPath(new URL('../../plugin/client-identity.js', import.meta.url))

/** A folder for one test's config, app plugin and run state; removed by `cleanup`. */
export function makeClusterDir (): { dir: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wsc-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Writes a user `app` plugin (config `app`) that answers `GET /whoami` with
 * the serving worker's pid and slot and the client address the worker was
 * given — how tests see stickiness and PROXY protocol results.
 */
export function writeWhoamiApp (dir: string): string {
  const file = join(dir, 'whoami-app.mjs')
  writeFileSync(file, `import { clientAddressOf } from ${JSON.stringify(CLIENT_ADDRESS_MODULE)}
export default async function whoami (app) {
  app.get('/whoami', async (request) => ({
    pid: process.pid,
    slot: Number(process.env.WS_CLUSTER_SLOT),
    client: clientAddressOf(request.raw.socket),
    encrypted: request.raw.socket.encrypted === true
  }))
}
`)
  return file
}

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface RunningCluster {
  child: ChildProcess
  port: number
  adminPort: number | null
  logs: LogLine[]
  /** Resolves with the first log line matching, or rejects after `timeoutMs`. */
  waitForLog: (match: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** Resolves when the primary exited and every worker closed the inherited pipes. */
  closed: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Stops the cluster for good: SIGTERM, then SIGKILL after `graceMs`. Safe to call twice. */
  kill: (graceMs?: number) => Promise<void>
}

/**
 * Starts `ws-cluster start --config <dir>/ws-cluster.config.json` as a child
 * process and waits for its "ws-cluster ready" log line (which carries the
 * ports bound, the config using port 0), or another `readyMessage`.
 *
 * @example
 * const cluster = await startCluster(dir, config)
 * try { ... } finally { await cluster.kill() }
 */
export interface StartOptions {
  /** File name of the config in `dir`; default `ws-cluster.config.json`. */
  configName?: string
  /** Runs the CLI through `sh -c '<prefix> exec node cli.js start …'` (e.g. `umask 000;`). */
  shellPrefix?: string
  /** Its own process group (so a test can signal the whole group). */
  detached?: boolean
  /** Another command line that starts the cluster with this config file (e.g. through `npx`). */
  command?: (configFile: string) => { file: string, args: string[] }
}

export async function startCluster (dir: string, config: object, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, readyMessage = 'ws-cluster ready', options: StartOptions = {}): Promise<RunningCluster> {
  const configFile = join(dir, options.configName ?? 'ws-cluster.config.json')
  writeFileSync(configFile, JSON.stringify(config, null, 2))
  const args = [CLI, 'start', '--config', configFile, ...extraArgs]
  const quoted = [process.execPath, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ')
  const custom = options.command?.(configFile)
  const [command, commandArgs] = custom !== undefined
    ? [custom.file, custom.args]
    : options.shellPrefix === undefined ? [process.execPath, args] : ['sh', ['-c', `${options.shellPrefix} exec ${quoted}`]]
  const child = spawn(command, commandArgs, {
    cwd: dir,
    env: { ...process.env, WS_CLUSTER_RUN_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached === true
  })
  const logs: LogLine[] = []
  const waiters = new Set<{ match: (line: LogLine) => boolean, resolve: (line: LogLine) => void }>()
  let stderr = ''
  let pending = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      let line: LogLine
      try {
        line = JSON.parse(text) as LogLine
      } catch {
        continue
      }
      logs.push(line)
      for (const waiter of waiters) {
        if (waiter.match(line)) {
          waiters.delete(waiter)
          waiter.resolve(line)
        }
      }
    }
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { stderr += chunk })
  const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
  })

  const waitForLog = async (match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const seen = logs.find(match)
    if (seen !== undefined) return seen
    return await new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer)
          resolve(line)
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-10))}`))
      }, timeoutMs)
      waiters.add(waiter)
      closed.then(() => {
        if (!waiters.has(waiter)) return
        waiters.delete(waiter)
        clearTimeout(timer)
        reject(new Error(`cluster exited before the log line; stderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-10))}`))
      }, () => {})
    })
  }

  const kill = async (graceMs = 15_000): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await closed
    clearTimeout(timer)
  }

  try {
    const ready = await waitForLog((line) => line.msg === readyMessage, 20_000)
    return { child, port: (ready.port ?? 0) as number, adminPort: (ready.adminPort ?? null) as number | null, logs, waitForLog, closed, kill }
  } catch (err) {
    child.kill('SIGKILL')
    await closed
    throw err
  }
}

/** Runs a `ws-cluster` command to completion (bounded) and returns its exit code and output. */
export async function runCli (args: string[], cwd: string, timeoutMs = 30_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, WS_CLUSTER_RUN_DIR: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** GET over plain HTTP from a chosen local address (127.x.y.z), without keep-alive. */
export async function httpGet (port: number, path: string, localAddress = '127.0.0.1', timeoutMs = 5000): Promise<{ status: number, headers: IncomingHttpHeaders, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)))
    req.on('error', reject)
  })
}

export interface Whoami {
  pid: number
  slot: number
  client: string
  encrypted: boolean
}

/** Which worker serves a client at `localAddress`. */
export async function whoami (port: number, localAddress = '127.0.0.1'): Promise<Whoami> {
  const res = await httpGet(port, '/whoami', localAddress)
  if (res.status !== 200) throw new Error(`/whoami answered ${res.status}: ${res.body}`)
  return JSON.parse(res.body) as Whoami
}
