import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { StatusReport } from '../status-report.js'

/** What the admin and control endpoints ask the primary. */
export interface AdminHandlers {
  /** Serving (not starting, not draining). */
  isReady: () => boolean
  readinessText: () => string
  status: () => Promise<StatusReport>
  metrics: () => Promise<{ contentType: string, body: string }>
  /** Control socket only: rolling reload with the re-read config. */
  reload: () => Promise<ReloadOutcome>
  /** Control socket only: graceful stop; answers before the stop completes. */
  stop: () => { shutdownTimeout: number }
}

export interface ReloadOutcome {
  ok: boolean
  /** When the new config was invalid: each problem with its path. */
  problems?: Array<{ path: string, message: string }>
  error?: string
  /** `in-place`: the running workers applied the config; `replaced`: new workers took the slots, the old ones drain. */
  kind?: 'in-place' | 'replaced'
  /** Why the workers were replaced (empty in place). */
  reasons?: string[]
  /** Workers that applied it in place. */
  updated?: number
  /** Workers replaced by new ones. */
  replaced?: number
  /** What the workers applied in place (option path and change). */
  changes?: Array<{ path: string, change: string }>
  /** Tunnels now closing with 1012 because their server left the config or was marked down. */
  closing?: number
  /** Settings only a restart applies (listen, admin, workers). */
  restartOnly?: string[]
  /** How long replaced workers keep their tunnels, in ms. */
  drainTimeout?: number
}

/**
 * The primary's HTTP endpoints, served twice: on the admin TCP listener
 * (`/livez`, `/readyz`, `/status`, `/metrics`; read-only, 127.0.0.1 by
 * default) and on the control Unix socket, which additionally takes
 * `POST /reload` and `POST /stop` for the CLI. A plain node:http server:
 * four routes do not need a framework in the process that must stay lean.
 *
 * @example
 * createAdminServer(handlers, { control: false }).listen(9090, '127.0.0.1')
 */
export function createAdminServer (handlers: AdminHandlers, options: { control: boolean }): Server {
  const server = createServer((req, res) => {
    route(handlers, options.control, req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${err.message}\n`)
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 1000
  return server
}

async function route (handlers: AdminHandlers, control: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  const method = req.method ?? 'GET'
  req.resume()
  if (control && method === 'POST' && path === '/reload') {
    const outcome = await handlers.reload()
    sendJson(res, outcome.ok ? 200 : 409, outcome)
    return
  }
  if (control && method === 'POST' && path === '/stop') {
    sendJson(res, 202, { ok: true, pid: process.pid, ...handlers.stop() })
    return
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
    return
  }
  switch (path) {
    case '/livez':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
      return
    case '/readyz':
      send(res, handlers.isReady() ? 200 : 503, 'text/plain; charset=utf-8', `${handlers.readinessText()}\n`)
      return
    case '/status':
      sendJson(res, 200, await handlers.status())
      return
    case '/metrics': {
      const { contentType, body } = await handlers.metrics()
      send(res, 200, contentType, body)
      return
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found; try /livez, /readyz, /status, /metrics\n')
  }
}

function sendJson (res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`)
}

function send (res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
