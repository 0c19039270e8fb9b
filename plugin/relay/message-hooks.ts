import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import type { MessageHook, MessageVerdict, RelayMessage } from '../options/relay-types.js'
import type { HookTask } from './hook-worker.js'

/**
 * Runs a relay route's message hook: a function on the event loop, or a
 * module in a piscina pool of worker threads, so a CPU-heavy hook stalls
 * neither the other connections' messages nor the tunnels on the same loop.
 */
export interface HookRunner {
  run: (message: RelayMessage) => MessageVerdict | Promise<MessageVerdict>
  /** Resolves once the hook can run (the pool has loaded the module), rejects with why it cannot. */
  ready: () => Promise<void>
  close: () => Promise<void>
}

const WORKER = fileURLToPath(new URL('./hook-worker.js', import.meta.url))

/** Extra threads above one exit after this long idle; one stays, so a message never waits for a thread to start. */
const IDLE_THREAD_MS = 30_000

class InlineHook implements HookRunner {
  constructor (readonly run: MessageHook) {}
  async ready (): Promise<void> {}
  async close (): Promise<void> {}
}

class PoolHook implements HookRunner {
  private readonly pool: Piscina<HookTask, MessageVerdict>

  constructor (private readonly module: string, threads: number) {
    this.pool = new Piscina({
      filename: WORKER,
      workerData: { module },
      minThreads: 1,
      maxThreads: threads,
      idleTimeout: IDLE_THREAD_MS
    })
  }

  readonly run = (message: RelayMessage): Promise<MessageVerdict> => {
    // An exact copy, transferred: ws's message may be a view into a larger read buffer, which cloning would copy whole.
    const data = new Uint8Array(message.data)
    const task: HookTask = { direction: message.direction, data, isBinary: message.isBinary, connection: message.connection }
    return this.pool.run(task, { transferList: [data.buffer] })
  }

  async ready (): Promise<void> {
    try {
      await this.pool.run(null as unknown as HookTask, { name: 'probe' })
    } catch (err) {
      throw new Error(`cannot load the hook module ${this.module} in the hook pool: ${(err as Error).message}`)
    }
  }

  async close (): Promise<void> {
    await this.pool.destroy()
  }
}

/**
 * The runner of `hook`: inline for a function, a pool of at most `threads`
 * threads for a module path, null without a hook.
 *
 * @example
 * const hooks = createHookRunner('/srv/hooks/validate.mjs', 2)
 * await hooks?.ready()
 */
export function createHookRunner (hook: MessageHook | string | null, threads: number): HookRunner | null {
  if (hook === null) return null
  return typeof hook === 'string' ? new PoolHook(hook, threads) : new InlineHook(hook)
}
