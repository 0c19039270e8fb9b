import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions, type RawData } from 'ws'

/** A message as a client or backend received it. */
export interface Message { data: Buffer, binary: boolean }

/** Records every message `ws` receives, from now on. */
export function collectMessages (ws: WebSocket): Message[] {
  const messages: Message[] = []
  ws.on('message', (data: RawData, binary: boolean) => messages.push({ data: data as Buffer, binary }))
  return messages
}

/** Polls `predicate` every 5 ms; throws naming `what` after a generous `timeoutMs`. */
export async function until (predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Opens a real `ws` client; resolves with it once open, or with the status of a refused handshake. */
export async function connectWs (url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WebSocket | number> {
  const ws = new WebSocket(url, protocols, options)
  ws.on('error', () => {})
  return await new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    ws.once('error', reject)
  })
}

/** Like {@link connectWs} but a refusal is an error. */
export async function openWs (url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WebSocket> {
  const result = await connectWs(url, protocols, options)
  if (typeof result === 'number') throw new Error(`handshake to ${url} refused with ${result}`)
  return result
}

/** Closes with 1000 and waits for the closing handshake and the socket to finish. */
export async function closeWs (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  const closed = once(ws, 'close')
  ws.close(1000)
  await closed
}
