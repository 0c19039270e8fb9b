import { fork, spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { parentPid, processTree } from './proc-stats.js'
import { RawConnection } from './raw-connection.js'

/**
 * Starting and stopping the bench's child processes: Node entries that report
 * their port over IPC, external peers (nginx, HAProxy, the cluster CLI) that get
 * a free port and are polled until they answer an upgrade, and a stop that
 * never leaves a process behind.
 */

/** Forks a bench entry that sends `{ port }` once it listens. */
export function forkWithPort (
  script: string,
  args: string[],
  execArgv: string[] = [],
  timeoutMs = 15_000
): Promise<{ child: ChildProcess, port: number }> {
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stopProcess(child).catch(() => {})
      reject(new Error(`${script} did not report a port within ${timeoutMs} ms: ${stderr}`))
    }, timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${code} before listening: ${stderr}`))
    })
    child.on('message', (message: { port?: number }) => {
      if (typeof message.port !== 'number') return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      resolve({ child, port: message.port })
    })
  })
}

/** A port that was free a moment ago, for peers that cannot listen on port 0 and tell us. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Spawns an external proxy and waits until a WebSocket upgrade through it succeeds. */
export async function spawnUntilUpgrade (
  command: string,
  args: string[],
  port: number,
  timeoutMs = 20_000
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  const state = { exited: false }
  child.once('exit', () => { state.exited = true })
  child.once('error', (err) => { state.exited = true; output += err.message })
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !state.exited) {
    const conn = new RawConnection(port)
    try {
      await conn.opened()
      await conn.close()
      return child
    } catch {
      conn.socket.destroy()
      await sleep(50)
    }
  }
  await stopProcess(child)
  throw new Error(`${command} ${args.join(' ')} never answered an upgrade on ${port}: ${output}`)
}

/**
 * Stops `child` with `signal` and waits for its exit; anything of its process tree
 * still alive after `timeoutMs` is killed, so no run leaks a worker.
 */
export async function stopProcess (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<void> {
  const pid = child.pid
  if (pid === undefined) return
  const tree = processTree(pid)
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    const cancel = new AbortController()
    const timer = sleep(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const)
    if (await Promise.race([exited.then(() => 'exited' as const), timer]) === 'timeout') {
      child.kill('SIGKILL')
      await exited
    }
    cancel.abort()
  }
  // Only orphans of this tree are killed: a pid that now has another parent was reused.
  const members = new Set(tree)
  for (const descendant of tree.slice(1)) {
    const parent = parentPid(descendant)
    if (parent === null || (parent !== 1 && !members.has(parent))) continue
    try {
      process.kill(descendant, 'SIGKILL')
    } catch {}
  }
  if (child.connected) child.disconnect()
  child.stderr?.destroy()
}
