import http from 'node:http'
import type net from 'node:net'
import httpProxy from 'http-proxy'

/**
 * Peer: `http-proxy` with `ws: true`, the classic Node WebSocket proxy, in its
 * documented shape (an http server whose 'upgrade' event hands the socket to
 * `proxy.ws`). Run as `node proxy-http-proxy.js BACKEND_PORT`.
 */

const backendPort = Number(process.argv[2])
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, ws: true })
proxy.on('error', (_err, _req, res) => {
  // For upgrades `res` is the client socket; a failed tunnel must not crash the bench peer.
  if ('destroy' in res && typeof res.destroy === 'function') res.destroy()
})

const server = http.createServer((req, res) => proxy.web(req, res))
server.on('upgrade', (req, socket, head) => {
  (socket as net.Socket).setNoDelay(true)
  proxy.ws(req, socket, head)
})
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port })
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
