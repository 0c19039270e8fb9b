// The demo's `app` plugin, registered by ws-cluster in every worker (config key
// `app`). Plain ESM JavaScript on purpose: the config file is copied as-is by
// users and must point at a file that runs without a build step.
//
// It serves the chat page and tells the page — from the server side — which
// worker process it reached: a header on every response, GET /whoami, and the
// same header added to the proxied WebSocket upgrade so the chat backend can
// echo the worker that carried this very connection.
import cluster from 'node:cluster'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'

const WORKER_HEADER = 'x-ws-cluster-worker'

function workerIdentity () {
  const id = cluster.worker ? String(cluster.worker.id) : 'single'
  return { id, pid: process.pid, value: `${id}:${process.pid}` }
}

// Replaces any client-sent copy, so a page cannot claim a worker it did not reach.
function setRequestHeader (raw, name, value) {
  const kept = []
  for (let i = 0; i < raw.rawHeaders.length; i += 2) {
    if (raw.rawHeaders[i].toLowerCase() !== name) kept.push(raw.rawHeaders[i], raw.rawHeaders[i + 1])
  }
  kept.push(name, value)
  raw.rawHeaders.length = 0
  raw.rawHeaders.push(...kept)
  raw.headers[name] = value
}

async function demoSite (app) {
  const me = workerIdentity()

  // Global (fastify-plugin) so it also runs for the wsProxy `/ws` upgrade route.
  app.addHook('onRequest', async (request, reply) => {
    setRequestHeader(request.raw, WORKER_HEADER, me.value)
    reply.header(WORKER_HEADER, me.value)
  })

  app.get('/whoami', async () => ({ worker: me.id, pid: me.pid }))

  await app.register(fastifyStatic, {
    root: fileURLToPath(new URL('./public/', import.meta.url)),
    // The page is tiny and changes with the checkout; no stale copies while hacking on it.
    cacheControl: false
  })
}

export default fp(demoSite, { name: 'ws-cluster-demo-site', fastify: '5.x' })
