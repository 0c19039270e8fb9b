import { workerData } from 'node:worker_threads'
import type { MessageDirection, MessageHook, MessageVerdict, RelayConnectionInfo } from '../options/relay-types.js'
import { importHook } from './hook-module.js'

/*
 * The entry of a hook pool's threads (piscina's `filename`): loads the
 * route's hook module once per thread and runs it for each message. The
 * message bytes arrive as a transferred, exactly sized buffer.
 */

/** One message sent to the pool. */
export interface HookTask {
  direction: MessageDirection
  data: Uint8Array
  isBinary: boolean
  connection: RelayConnectionInfo
}

let loaded: Promise<MessageHook> | null = null

function hook (): Promise<MessageHook> {
  loaded ??= importHook((workerData as { module: string }).module)
  return loaded
}

/** Runs the hook for one message. A replacement's bytes are copied out of any shared pool slab, so only they cross back. */
export default async function runHook (task: HookTask): Promise<MessageVerdict> {
  const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength)
  const verdict = await (await hook())({ direction: task.direction, data, isBinary: task.isBinary, connection: task.connection })
  if (verdict !== undefined && verdict !== null && verdict.action === 'replace' && typeof verdict.data !== 'string') {
    return { ...verdict, data: new Uint8Array(verdict.data) }
  }
  return verdict
}

/** Loads the module, so a pool can prove at start that its hook loads. */
export async function probe (): Promise<boolean> {
  await hook()
  return true
}
