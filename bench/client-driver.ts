import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WatchedProcesses } from './proc-stats.js'
import { stopProcess } from './process-control.js'
import type { ClientRequest, WorkloadResult, WorkloadSpec } from './workload-runner.js'

/**
 * The orchestrator's handle on the load-client process: it sends one workload at
 * a time and waits for the answer, so nothing else of the bench runs while a
 * window is being measured.
 */
export class ClientDriver {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (r: WorkloadResult) => void, reject: (e: Error) => void }>()

  private constructor (private readonly child: ChildProcess) {
    child.on('message', (message: { seq?: number, result?: WorkloadResult, error?: string }) => {
      if (message.seq === undefined) return
      const entry = this.waiting.get(message.seq)
      this.waiting.delete(message.seq)
      if (message.error !== undefined) entry?.reject(new Error(message.error))
      else if (message.result !== undefined) entry?.resolve(message.result)
    })
    child.on('exit', (code) => {
      for (const entry of this.waiting.values()) entry.reject(new Error(`load client exited with ${code}`))
      this.waiting.clear()
    })
  }

  /**
   * @example
   * const client = await ClientDriver.start()
   * const r = await client.run(port, { proxyRoot: pid, harness: [client.pid] }, spec)
   * await client.stop()
   */
  static async start (): Promise<ClientDriver> {
    const child = fork(fileURLToPath(new URL('./workload-runner.js', import.meta.url)), ['--load-client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) => reject(new Error(`load client exited with ${code} at start`)))
    })
    child.removeAllListeners('exit')
    return new ClientDriver(child)
  }

  get pid (): number {
    return this.child.pid ?? 0
  }

  run (port: number, watched: WatchedProcesses, spec: WorkloadSpec): Promise<WorkloadResult> {
    const seq = ++this.seq
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject })
      const request: ClientRequest = { seq, port, watched, spec }
      this.child.send(request)
    })
  }

  stop (): Promise<void> {
    return stopProcess(this.child)
  }
}
