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

/** Opens a real `ws` client; resolves with it once open, or with the status of a refused handshake; rejects after `timeoutMs`. */
export async function connectWs (url: string, protocols: string[] = [], options: ClientOptions & { timeoutMs?: number } = {}): Promise<WebSocket | number> {
  // A generous bound: some tests wait for a proxy-side timeout to refuse the handshake.
  const { timeoutMs = 15_000, ...wsOptions } = options
  const ws = new WebSocket(url, protocols, wsOptions)
  ws.on('error', () => {})
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`opening ${url} timed out`)) }, timeoutMs)
    ws.once('open', () => { clearTimeout(timer); resolve(ws) })
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      clearTimeout(timer)
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** Like {@link connectWs} but a refusal is an error. */
export async function openWs (url: string, protocols: string[] = [], options: ClientOptions & { timeoutMs?: number } = {}): Promise<WebSocket> {
  const result = await connectWs(url, protocols, options)
  if (typeof result === 'number') throw new Error(`handshake to ${url} refused with ${result}`)
  return result
}

/** Sends `text` and resolves with the next message. */
export async function echoOnce (ws: WebSocket, text: string, timeoutMs = 5000): Promise<string> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo timed out')), timeoutMs)
    ws.once('message', (data) => { clearTimeout(timer); resolve(String(data)) })
    ws.send(text)
  })
}

/** Resolves when the socket is closed (now or later), with the close code; terminates it after `timeoutMs`. */
export async function closedWs (ws: WebSocket, timeoutMs = 10_000): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return 1006
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { ws.terminate() }, timeoutMs)
    ws.once('close', (code) => { clearTimeout(timer); resolve(code) })
  })
}

/** Closes with 1000 and waits for the closing handshake and the socket to finish (terminating after 3 s). */
export async function closeWs (ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  const closed = closedWs(ws, 3000)
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000)
  await closed
}
