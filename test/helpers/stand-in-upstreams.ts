import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { onceWithin } from './timing.js'

// Upstreams that misbehave at the TCP level (never accept, never answer,
// refuse), which no real WebSocket server can be made to do on demand.

/** A stand-in upstream for timeout tests. */
export interface StandInUpstream {
  url: string
  close: () => Promise<void>
}

// The child listens with a backlog of 1 and then blocks its event loop, so it
// never accepts: once the kernel's accept queue is full, further SYNs are
// dropped and connect() hangs, which is what an unreachable upstream looks like.
const NEVER_ACCEPT = `
const server = require('node:net').createServer()
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  // Writes to a pipe are synchronous on Linux, so the port is out before the loop blocks.
  process.stdout.write(server.address().port + '\\n')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000)
})`

/**
 * R16: an upstream address where TCP connects never complete. Its accept
 * queue is filled by connections of our own, which are closed with it.
 */
export async function startNeverAcceptingUpstream (): Promise<StandInUpstream> {
  const child = spawn(process.execPath, ['-e', NEVER_ACCEPT], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await onceWithin(child.stdout, 'data') as [Buffer]
  const port = Number(String(line).trim())
  const fillers: Socket[] = []
  // Linux queues backlog + 1 connections, so two normally fill it; probing
  // until a connect hangs makes sure, whatever the child did before blocking.
  for (let i = 0; i < 10; i++) {
    const probe = connect({ port, host: '127.0.0.1' })
    probe.on('error', () => {})
    const connected = await Promise.race([
      once(probe, 'connect').then(() => true),
      new Promise<boolean>(resolve => setTimeout(() => resolve(false), 250))
    ])
    if (!connected) {
      probe.destroy()
      break
    }
    fillers.push(probe)
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of fillers) socket.destroy()
      const exited = onceWithin(child, 'close')
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** R17: an upstream that accepts TCP connections and never answers the request. */
export async function startSilentUpstream (): Promise<StandInUpstream & { accepted: () => number }> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createNetServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.resume()
  })
  server.listen(0, '127.0.0.1')
  await onceWithin(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

/** A 127.0.0.1 URL where nothing listens (connects are refused): a port that was free a moment ago. */
export async function refusedUrl (): Promise<string> {
  const server = createNetServer()
  server.listen(0, '127.0.0.1')
  await onceWithin(server, 'listening')
  const port = (server.address() as AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  return `http://127.0.0.1:${port}`
}
