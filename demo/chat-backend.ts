#!/usr/bin/env node
/**
 * Runs one demo chat backend.
 *
 *   node dist/demo/chat-backend.js --name backend-1 --port 9101 \
 *     --peers http://127.0.0.1:9101,http://127.0.0.1:9102      # DEMO_PEER_TOKEN must be set
 *   REDIS_URL=redis://127.0.0.1:6379 node dist/demo/chat-backend.js --name backend-2 --port 9102
 *
 * Flags win over the environment: BACKEND_NAME, BACKEND_HOST, BACKEND_PORT,
 * PEERS, DEMO_PEER_TOKEN, REDIS_URL. `npm run demo` starts these for you.
 */
import { parseArgs } from 'node:util'
import { startChatServer, type ChatServer } from './chat-server.js'

function usage (message: string): never {
  process.stderr.write(`chat-backend: ${message}\n` +
    'usage: chat-backend --name NAME [--host 127.0.0.1] [--port N] [--peers URL,URL] (env DEMO_PEER_TOKEN, REDIS_URL)\n')
  process.exit(2)
}

function readOptions (): Parameters<typeof startChatServer>[0] {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        name: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        peers: { type: 'string' }
      },
      strict: true
    }))
  } catch (err) {
    usage((err as Error).message)
  }
  const env = process.env
  const name = values.name ?? env.BACKEND_NAME ?? `backend-${process.pid}`
  const host = values.host ?? env.BACKEND_HOST ?? '127.0.0.1'
  const portText = values.port ?? env.BACKEND_PORT ?? '0'
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be an integer 0-65535, got "${portText}"`)
  const peers = (values.peers ?? env.PEERS ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')
  for (const peer of peers) {
    if (!URL.canParse(peer)) usage(`--peers: "${peer}" is not a URL like http://127.0.0.1:9102`)
  }
  const redisUrl = env.REDIS_URL !== undefined && env.REDIS_URL !== '' ? env.REDIS_URL : null
  const peerToken = env.DEMO_PEER_TOKEN ?? ''
  if (redisUrl === null && peers.length > 0 && peerToken === '') {
    usage('--peers needs DEMO_PEER_TOKEN set to the same secret on every backend')
  }
  const log = (line: string): void => { process.stdout.write(`[${name}] ${line}\n`) }
  return { name, host, port, peers, peerToken, redisUrl, log }
}

const options = readOptions()
let server: ChatServer
try {
  server = await startChatServer(options)
} catch (err) {
  process.stderr.write(`[${options.name}] cannot start: ${(err as Error).message}\n`)
  process.exit(1)
}
options.log(`listening on ${server.url} (pid ${process.pid}, cross-backend: ${server.transport === 'redis' ? 'Redis pub/sub' : 'peer mesh'})`)

let stopping = false
async function stop (why: string): Promise<void> {
  if (stopping) {
    // A second signal means "now": the user or the runner gave up waiting.
    process.exit(1)
  }
  stopping = true
  options.log(`stopping (${why})`)
  await server.close()
  process.exit(0)
}
function fail (err: Error): void {
  process.stderr.write(`[${options.name}] stop failed: ${err.message}\n`)
  process.exit(1)
}
process.on('SIGTERM', () => { stop('SIGTERM').catch(fail) })
process.on('SIGINT', () => { stop('SIGINT').catch(fail) })
// Started by the demo runner with an IPC channel: if the runner dies, so does this backend.
process.on('disconnect', () => { stop('demo runner went away').catch(fail) })
