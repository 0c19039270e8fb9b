import net from 'node:net'

/**
 * The Node floor: a bare `net` pipe to the backend, no HTTP parsing at all — the
 * upgrade request and answer pass through as bytes. Any Node WebSocket proxy
 * pays at least this much per round trip. Run as `node proxy-netpipe.js BACKEND_PORT`.
 */

const backendPort = Number(process.argv[2])

const server = net.createServer((client) => {
  const upstream = net.connect({ port: backendPort, host: '127.0.0.1', noDelay: true })
  client.setNoDelay(true)
  client.pipe(upstream)
  upstream.pipe(client)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
})
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port })
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
