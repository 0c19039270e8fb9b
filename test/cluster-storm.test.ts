import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { WebSocket } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet, whoami } from './helpers/cluster-process.js'
import { WORKER_SEMI_SPACE_MIB, workerExecArgv } from '../cluster/primary/worker-process.js'
import { closeWs, connectWs, echoOnce } from './helpers/ws-clients.js'

// More than R58's 1024 waiting plus 64 in flight, all from 127.0.0.1: one slot, one worker.
const STORM = 2500

const fixture = useWhoamiCluster({ config: () => ({ workers: 1, admin: { port: 0 } }) })

test('R105 a reconnect storm from one address waits for its busy worker: every connection is served, none is cut', async () => {
  const url = `ws://127.0.0.1:${fixture.cluster.port}/ws`
  // Every connect is issued in the same tick, as clients do when their server went away at once.
  const outcomes = await Promise.allSettled(Array.from({ length: STORM }, async () => await connectWs(url, [], { timeoutMs: 120_000 })))
  const open = outcomes.flatMap((o) => (o.status === 'fulfilled' && typeof o.value !== 'number' ? [o.value] : []))
  try {
    const failed = outcomes.filter((o) => o.status === 'rejected' || typeof o.value === 'number')
    const firstFailure = failed[0]
    assert.equal(failed.length, 0, `${failed.length} of ${STORM} refused or cut; first: ${
      firstFailure === undefined ? '' : firstFailure.status === 'rejected' ? String(firstFailure.reason) : `status ${String(firstFailure.value)}`}`)
    const echoes = await Promise.all(open.map(async (ws: WebSocket, i) => await echoOnce(ws, `m${i}`, 30_000)))
    assert.deepEqual(echoes, open.map((_, i) => `m${i}`))
  } finally {
    await Promise.all(open.map(closeWs))
  }
  const status = JSON.parse((await httpGet(fixture.cluster.adminPort as number, '/status')).body) as { primary: { handedOff: number, dropped: number } }
  assert.equal(status.primary.dropped, 0, 'the primary closed no connection for waiting')
  assert.ok(status.primary.handedOff >= STORM, `${status.primary.handedOff} handed off`)
})

test('R106 workers get a 1 MiB young-generation ceiling, so idle tunnels after a storm do not keep a grown heap', async () => {
  const { pid } = await whoami(fixture.cluster.port)
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  assert.ok(argv.includes(`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`), `worker argv: ${argv.join(' ')}`)
})

test('R106 an operator\'s own --max-semi-space-size, in node flags or NODE_OPTIONS, wins', () => {
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], undefined), ['--enable-source-maps', `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`])
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], undefined), ['--max-semi-space-size=8'])
  assert.deepEqual(workerExecArgv(['--max_semi_space_size', '8'], undefined), ['--max_semi_space_size', '8'])
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=512 --max-semi-space-size=16'), [])
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=512'), [`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`])
})
