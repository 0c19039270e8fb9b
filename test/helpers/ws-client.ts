import { WebSocket } from 'ws'

/** Opens a WebSocket (optionally from a chosen local address), rejecting on error or after `timeoutMs`. */
export async function openWs (url: string, options: { localAddress?: string, ca?: Buffer | string, timeoutMs?: number } = {}): Promise<WebSocket> {
  const { timeoutMs = 5000, ...wsOptions } = options
  const ws = new WebSocket(url, wsOptions)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`opening ${url} timed out`)) }, timeoutMs)
    ws.once('open', () => { clearTimeout(timer); resolve() })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
  return ws
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

/** Closes the socket and waits for the close to finish. */
export async function closeWs (ws: WebSocket): Promise<void> {
  const done = closedWs(ws, 3000)
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close()
  await done
}
