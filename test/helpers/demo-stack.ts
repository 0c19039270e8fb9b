import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

/** What `run-demo` sends over IPC once the whole stack answered. */
export interface DemoReady {
  type: 'ready'
  url: string
  adminUrl: string | null
  cluster: { pid: number }
  backends: Array<{ name: string, port: number, pid: number }>
}

export interface RunningDemo {
  child: ChildProcess
  ready: DemoReady
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  output: () => string
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const runner = fileURLToPath(new URL('../../demo/run-demo.js', import.meta.url))

/**
 * Starts `node dist/demo/run-demo.js` as a real child process with free
 * ports, and resolves when it reports ready over IPC. Rejects with the
 * demo's output if it exits first or takes longer than `timeoutMs`.
 *
 * @example
 * const demo = await startDemo(['--workers', '2'])
 * demo.child.kill('SIGTERM'); await demo.exited
 */
export async function startDemo (args: string[] = [], timeoutMs = 60_000): Promise<RunningDemo> {
  const child = spawn(process.execPath, [runner, '--port', '0', '--admin-port', '0', '--backend-port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let text = ''
  child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const ready = await new Promise<DemoReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`demo not ready within ${timeoutMs} ms; output:\n${text}`))
    }, timeoutMs)
    child.on('message', (msg: DemoReady) => {
      if (msg.type !== 'ready') return
      clearTimeout(timer)
      resolve(msg)
    })
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`demo exited (${signal ?? `code ${code}`}) before it was ready; output:\n${text}`))
    }, reject)
  })
  return { child, ready, exited, output: () => text }
}

/** Every process below `pid`, from the parent links in /proc (Linux). */
export function descendantPids (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    // The command name is in parentheses and may hold spaces; fields after it are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const list = children.get(ppid) ?? []
    list.push(Number(entry))
    children.set(ppid, list)
  }
  const out: number[] = []
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c)
      walk(c)
    }
  }
  walk(pid)
  return out
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Polls until no pid in `pids` is alive; returns the ones still alive after `timeoutMs`. */
export async function waitForGone (pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let alive = pids.filter(isAlive)
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50)
    alive = alive.filter(isAlive)
  }
  return alive
}
