import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket } from 'ws'
import type { ConnectionView, ServerMessage } from './chat-protocol.js'
import type { ManagedProcess } from './managed-process.js'

/**
 * Polls `url` until it answers 200, the process exits, or `timeoutMs` passes.
 * Polling (rather than parsing log lines) works whatever the child prints.
 *
 * @example
 * await waitForHttp('http://127.0.0.1:9101/health', backend, 15000)
 */
export async function waitForHttp (url: string, owner: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    if (!owner.running) {
      const { code, signal } = await owner.exited
      throw new Error(`${owner.label} exited (${signal ?? `code ${code}`}) before ${url} answered`)
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`${owner.label}: ${url} did not answer 200 within ${timeoutMs} ms (${last})`)
}

/**
 * Opens one WebSocket through the whole stack and returns what the backend
 * saw, so the runner can print a proven path instead of a hopeful one.
 */
export async function probeChatPath (wsUrl: string, timeoutMs: number): Promise<ConnectionView> {
  const socket = new WebSocket(wsUrl)
  try {
    return await new Promise<ConnectionView>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no welcome from ${wsUrl} within ${timeoutMs} ms`)), timeoutMs)
      socket.on('error', (err) => { clearTimeout(timer); reject(err) })
      socket.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as ServerMessage
        if (msg.type === 'welcome') {
          clearTimeout(timer)
          resolve(msg.view)
        }
      })
    })
  } finally {
    socket.terminate()
  }
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }
const QUIET_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v'])

/**
 * Shows ws-cluster's pino NDJSON as one short readable line each
 * (`info tunnel closed route=/ws upstream=...`); other lines pass unchanged.
 */
export function formatPinoLine (line: string): string {
  if (!line.startsWith('{')) return line
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line
  }
  const level = typeof entry.level === 'number' ? LEVELS[entry.level] ?? String(entry.level) : String(entry.level ?? '')
  const fields = Object.entries(entry)
    .filter(([key]) => !QUIET_KEYS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
  return [level, typeof entry.msg === 'string' ? entry.msg : '', ...fields].filter((part) => part !== '').join(' ')
}
