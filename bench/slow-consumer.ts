import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { cpuWindow, processTree, rssKiB, sampleCpu, type CpuWindow, type WatchedProcesses } from './proc-stats.js'

/**
 * W6, memory under a slow consumer: one client asks the echo backend to
 * flood it with `bytes` (64 KiB messages, sent at once) and reads none of
 * them. A proxy with backpressure stops reading the backend, whose own queue
 * then holds the flood; a proxy without it reads everything and holds it
 * itself. The figure is how much the proxy's process tree grew (RSS) once it
 * stopped growing. Then the client reads again and every byte must arrive
 * (or the run counts errors).
 *
 * Only the flood goes through the proxy (the client sends one short
 * message), so a proxy that stops reading has little pass through it, and
 * what its RSS gains is what it holds; a collector cannot be forced from
 * outside, so RSS is the figure every peer can be measured by.
 */

export interface SlowConsumerOptions {
  bytes: number
  settleMs: number
}

export interface SlowConsumerResult {
  offeredBytes: number
  rssBeforeKiB: number
  rssAfterKiB: number
  rssGrowthKiB: number
  errors: number
  firstError: string | null
  cpu: CpuWindow
}

/**
 * Polls until `value()` has not changed for `steadyPolls` polls of 100 ms, at
 * most `limitMs`. Seconds without progress, since on a shared machine a
 * process can be descheduled for a fraction of a second without having stalled.
 */
async function steady (value: () => number, steadyPolls: number, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs
  let last = -1
  let same = 0
  while (same < steadyPolls && performance.now() < deadline) {
    await sleep(100)
    const now = value()
    same = now === last ? same + 1 : 0
    last = now
  }
}

export async function slowConsumer (port: number, watched: WatchedProcesses, options: SlowConsumerOptions): Promise<SlowConsumerResult> {
  const tree = watched.proxyRoot === 0 ? [] : processTree(watched.proxyRoot)
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false })
  let errors = 0
  let firstError: string | null = null
  ws.on('error', (err) => {
    errors++
    firstError ??= err.message
  })
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve())
    ws.once('error', () => resolve())
  })
  let received = 0
  ws.on('message', (data: Buffer) => { received += data.length })
  const expected = Math.ceil(options.bytes / 65536) * 65536
  const pass = async (what: string): Promise<void> => {
    await steady(() => received, 20, 120_000)
    if (received !== expected) {
      errors++
      firstError ??= `${what}: received ${received} of ${expected} flooded bytes`
    }
    received = 0
  }
  await sleep(300)
  const rssBeforeKiB = rssKiB(tree)
  const start = sampleCpu(watched, tree)
  ws.pause()
  if (ws.readyState === WebSocket.OPEN) ws.send(`flood ${options.bytes}`)
  // Stalled once the proxy's memory stops moving (MiB granularity), then a settle.
  await steady(() => Math.round(rssKiB(tree) / 1024), 20, 60_000)
  await sleep(options.settleMs)
  const rssAfterKiB = rssKiB(tree)
  const end = sampleCpu(watched, tree)
  ws.resume()
  await pass('after resuming')
  // A second flood to a client that reads: the path still works after being stalled.
  if (ws.readyState === WebSocket.OPEN) ws.send(`flood ${options.bytes}`)
  await pass('reading flood')
  await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once('close', () => resolve())
    ws.close()
  })
  return { offeredBytes: expected, rssBeforeKiB, rssAfterKiB, rssGrowthKiB: rssAfterKiB - rssBeforeKiB, errors, firstError, cpu: cpuWindow(start, end) }
}
