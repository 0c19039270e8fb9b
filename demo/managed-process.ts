import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ManagedProcessOptions {
  /** Prefix of every output line, e.g. `backend-1`. */
  label: string
  /** Arguments to `node` (script first). */
  args: string[]
  env?: NodeJS.ProcessEnv
  /** Open an IPC channel, so a child that watches 'disconnect' dies with the runner even on SIGKILL. */
  ipc?: boolean
  /** Turns one output line into what the terminal shows; null hides it. */
  formatLine?: (line: string) => string | null
  write: (text: string) => void
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * A Node child process in its own process group (`detached`), so a Ctrl-C in
 * the terminal reaches only the runner, which then stops the children in
 * order, and so stopping can sweep the whole group — including processes the
 * child forked itself, like ws-cluster's workers — and leave no orphans.
 *
 * @example
 * const backend = new ManagedProcess({ label: 'backend-1', args: ['dist/demo/chat-backend.js'], write: t => process.stdout.write(t) })
 * await backend.stop(5000)
 */
export class ManagedProcess {
  readonly label: string
  readonly child: ChildProcess
  readonly pid: number
  readonly exited: Promise<ExitInfo>
  #exit: ExitInfo | null = null

  constructor (options: ManagedProcessOptions) {
    this.label = options.label
    this.child = spawn(process.execPath, options.args, {
      detached: true,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', options.ipc === true ? 'ipc' : 'ignore']
    })
    if (this.child.pid === undefined) throw new Error(`cannot start ${options.label}: node ${options.args.join(' ')}`)
    this.pid = this.child.pid
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal }
        resolve(this.#exit)
      })
    })
    // Spawn failures also surface as 'exit'; without a listener they would throw.
    this.child.on('error', (err) => options.write(`[${this.label}] ${err.message}\n`))
    const format = options.formatLine ?? ((line: string) => line)
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream === null) continue
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        const shown = format(line)
        if (shown !== null) options.write(`[${this.label}] ${shown}\n`)
      })
    }
  }

  get running (): boolean {
    return this.#exit === null
  }

  /** Sends `signal` to the child only (not its group), so it can shut down its own children in order. */
  signal (signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal)
  }

  /**
   * SIGTERM, up to `graceMs` for a clean exit, then SIGKILL; finally the whole
   * group is swept so nothing the child started outlives it.
   */
  async stop (graceMs: number): Promise<ExitInfo> {
    if (this.running) {
      this.signal('SIGTERM')
      const graceful = await Promise.race([this.exited, sleep(graceMs, null)])
      if (graceful === null) this.killGroup()
    }
    const info = await this.exited
    this.killGroup()
    return info
  }

  /** SIGKILL to every process of the group; a group that is already empty is fine. */
  killGroup (): void {
    try {
      process.kill(-this.pid, 'SIGKILL')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    }
  }
}
