import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { StatusReport } from '../cluster/status-report.js'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet, whoami, type Whoami } from './helpers/cluster-process.js'

// R58: a worker whose event loop is stuck is found by the primary's heartbeat,
// killed and replaced in its slot; hand-offs to it are bounded meanwhile.

const HEARTBEAT_MS = 2000
/**
 * The slot queue's bounds (worker-slots.ts): in flight to one worker, and waiting for its slot once
 * the worker counts as stalled (no pending hand-off taken for STALL_MS; before that a burst may queue, R105).
 */
const MAX_IN_FLIGHT = 64
const MAX_WAITING = 1024
const STALL_MS = 1000

const fixture = useWhoamiCluster({
  config: ({ dir }) => {
    const clientAddress = fileURLToPath(new URL('../plugin/client-identity.js', import.meta.url))
    writeFileSync(join(dir, 'spin-app.mjs'), `import { clientAddressOf } from ${JSON.stringify(clientAddress)}
export default async function spin (app) {
  app.get('/whoami', async (request) => ({ pid: process.pid, slot: Number(process.env.WS_CLUSTER_SLOT), client: clientAddressOf(request.raw.socket), encrypted: false }))
  // A user bug: an endless loop on the event loop.
  app.get('/spin', async () => { while (true) {} })
}
`)
    return { app: 'spin-app.mjs', heartbeatTimeout: `${HEARTBEAT_MS}ms`, admin: { port: 0, host: '127.0.0.1' } }
  }
})

function fdsOf (pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

async function addressesBySlot (prefix: string): Promise<Map<number, string>> {
  const found = new Map<number, string>()
  for (let i = 1; i <= 40 && found.size < 2; i++) {
    const address = `${prefix}.${i}`
    const seen = await whoami(fixture.cluster.port, address)
    if (!found.has(seen.slot)) found.set(seen.slot, address)
  }
  assert.equal(found.size, 2)
  return found
}

async function status (): Promise<StatusReport> {
  return JSON.parse((await httpGet(fixture.cluster.adminPort as number, '/status')).body) as StatusReport
}

/** Waits for the log line saying the worker `pid` was found silent; returns when it came, in ms since `since`. */
async function silentLogged (pid: number, since: number): Promise<number> {
  await fixture.cluster.waitForLog((line) => line.msg === 'worker stopped answering heartbeats; killing it to replace it in the same slot' && line.workerPid === pid, 15_000)
  return Date.now() - since
}

test('R58 a SIGSTOPped worker under a stream of connections is replaced within heartbeatTimeout; the primary holds a bounded number of them; the other slot is unaffected', async () => {
  const bySlot = await addressesBySlot('127.0.20')
  const [victimAddress, otherAddress] = [bySlot.get(0) as string, bySlot.get(1) as string]
  const victim = await whoami(fixture.cluster.port, victimAddress)
  const other = await whoami(fixture.cluster.port, otherAddress)
  const primaryPid = fixture.cluster.child.pid as number
  const primaryFds = fdsOf(primaryPid)
  const stream: Socket[] = []
  let peakFds = primaryFds
  const stoppedAt = Date.now()
  process.kill(victim.pid, 'SIGSTOP')
  try {
    // 1400 connections for the stopped worker's slot, more than it may hold in flight plus waiting.
    for (let i = 0; i < 1400; i++) {
      const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port, localAddress: victimAddress })
      socket.on('error', () => {})
      stream.push(socket)
      if (i % 100 === 99) await sleep(20)
    }
    // Once the worker counts as stalled, what the primary holds for it is bounded again.
    await sleep(Math.max(0, stoppedAt + STALL_MS + 400 - Date.now()))
    peakFds = Math.max(peakFds, fdsOf(primaryPid))
    // Meanwhile the other slot answers at once, from the same worker.
    const during: Whoami = await whoami(fixture.cluster.port, otherAddress)
    assert.equal(during.pid, other.pid)
    const took = await silentLogged(victim.pid, stoppedAt)
    assert.ok(took >= HEARTBEAT_MS - 600, `found silent after ${took} ms, before heartbeatTimeout`)
    assert.ok(took <= HEARTBEAT_MS + 4000, `found silent after ${took} ms, well past heartbeatTimeout`)
    peakFds = Math.max(peakFds, fdsOf(primaryPid))
    assert.ok(peakFds - primaryFds <= MAX_IN_FLIGHT + MAX_WAITING + 50, `the primary held ${peakFds - primaryFds} more descriptors once the worker stalled`)
    const replaced = await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === 0, 15_000)
    const served = await whoami(fixture.cluster.port, victimAddress)
    assert.equal(served.slot, 0)
    assert.equal(served.pid, replaced.workerPid)
    assert.notEqual(served.pid, victim.pid)
    assert.ok(Date.now() - stoppedAt < 30_000)
    assert.equal((await whoami(fixture.cluster.port, otherAddress)).pid, other.pid, 'the other slot kept its worker')
    const report = await status()
    assert.ok(report.primary.unresponsive >= 1)
    assert.ok(report.workers.every((w) => w.queue === null || (w.queue.inFlight <= MAX_IN_FLIGHT && w.queue.waiting <= MAX_WAITING)))
    const metrics = (await httpGet(fixture.cluster.adminPort as number, '/metrics')).body
    assert.match(metrics, /^ws_cluster_workers_unresponsive_total [1-9]/m)
    assert.match(metrics, /^ws_cluster_primary_handoffs_in_flight \d+/m)
  } finally {
    for (const socket of stream) socket.destroy()
    // When the primary did not kill it (a failure), let the stopped worker run again so the cluster can stop.
    const killed = fixture.cluster.logs.some((line) => line.msg === 'worker stopped answering heartbeats; killing it to replace it in the same slot' && line.workerPid === victim.pid)
    if (!killed) process.kill(victim.pid, 'SIGCONT')
  }
})

test('R58 an endless loop in the user app, triggered by a request, gets its worker replaced; its slot is served again', async () => {
  const bySlot = await addressesBySlot('127.0.21')
  const address = bySlot.get(1) as string
  const before = await whoami(fixture.cluster.port, address)
  const startedAt = Date.now()
  // The request never gets an answer: its connection ends when the stuck worker is killed.
  const spin = httpGet(fixture.cluster.port, '/spin', address, 20_000).catch((err: Error) => err)
  const took = await silentLogged(before.pid, startedAt)
  assert.ok(took >= HEARTBEAT_MS - 600 && took <= HEARTBEAT_MS + 4000, `found after ${took} ms`)
  assert.ok(await spin instanceof Error, 'the spinning request was cut with its worker')
  const replaced = await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === 1 && line.workerPid !== before.pid, 15_000)
  const after = await whoami(fixture.cluster.port, address)
  assert.equal(after.slot, 1)
  assert.equal(after.pid, replaced.workerPid)
})
