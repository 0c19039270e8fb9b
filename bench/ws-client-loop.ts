import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { ownCpuMicros } from './closed-loop.js'

/**
 * The same closed loop as `closed-loop.ts`, driven by `ws` clients instead of raw
 * sockets. It exists only to measure, once per run, which load client is cheaper
 * — the cheaper one drives every path so the proxies get more of the CPU.
 */

export interface WsClientLoopResult {
  connections: number
  size: number
  roundTrips: number
  errors: number
  clientCpuUsPerRoundTrip: number
  roundTripsPerSecond: number
}

export async function wsClientLoop (
  port: number,
  connections: number,
  size: number,
  warmupMs: number,
  durationMs: number
): Promise<WsClientLoopResult> {
  const payload = Buffer.alloc(size, 7)
  const sockets: WebSocket[] = []
  let errors = 0
  for (let i = 0; i < connections; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false })
    ws.on('error', () => { errors++ })
    sockets.push(ws)
  }
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    ws.once('open', () => resolve())
    ws.once('error', () => resolve())
  })))

  let measuring = false
  let sending = true
  let roundTrips = 0
  for (const ws of sockets) {
    ws.on('message', () => {
      if (measuring) roundTrips++
      if (sending) ws.send(payload, { binary: true })
    })
    if (ws.readyState === WebSocket.OPEN) ws.send(payload, { binary: true })
  }
  await sleep(warmupMs)
  const cpuStart = ownCpuMicros()
  const t0 = performance.now()
  measuring = true
  await sleep(durationMs)
  measuring = false
  const seconds = (performance.now() - t0) / 1000
  const cpu = ownCpuMicros() - cpuStart
  sending = false
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once('close', () => resolve())
    ws.close()
  })))
  return {
    connections,
    size,
    roundTrips,
    errors,
    clientCpuUsPerRoundTrip: roundTrips === 0 ? NaN : cpu / roundTrips,
    roundTripsPerSecond: roundTrips / seconds
  }
}
