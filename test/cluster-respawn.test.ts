import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { WebSocket } from 'ws'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { httpGet, runCli, whoami } from './helpers/cluster-process.js'
import { processStartedAt } from './helpers/process-tree.js'
import { assertTimer } from './helpers/timing.js'
import { echoOnce, openWs } from './helpers/ws-clients.js'

/** How long a worker may take to start (fork, import, Fastify ready) on a loaded 2-core box. */
const WORKER_BOOT_MS = 5000

const fixture = useWhoamiCluster()

function fdsOf (pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** A tunnel through the cluster from `localAddress` (which picks the worker). */
async function openTunnel (localAddress: string): Promise<WebSocket> {
  return await openWs(`ws://127.0.0.1:${fixture.cluster.port}/ws`, [], { localAddress })
}

test('R41 a SIGKILLed worker is replaced in the same slot; other workers\' clients keep their tunnels; no handle leaks in the primary', async () => {
  // Find client addresses for each of the two workers.
  const byPid = new Map<number, string[]>()
  const slotOf = new Map<number, number>()
  for (let i = 1; i <= 40 && [...byPid.values()].filter((a) => a.length >= 3).length < 2; i++) {
    const address = `127.0.5.${i}`
    const seen = await whoami(fixture.cluster.port, address)
    slotOf.set(seen.pid, seen.slot)
    byPid.set(seen.pid, [...(byPid.get(seen.pid) ?? []), address])
  }
  const [victim, survivor] = [...byPid.keys()] as [number, number]
  const victimAddresses = byPid.get(victim) as string[]
  const survivorAddresses = byPid.get(survivor) as string[]
  assert.ok(victimAddresses.length >= 3 && survivorAddresses.length >= 3)

  const survivorTunnels = await Promise.all(survivorAddresses.map(openTunnel))
  const victimTunnels = await Promise.all(victimAddresses.map(openTunnel))
  const victimClosed = victimTunnels.map(async (ws) => await new Promise<void>((resolve) => ws.once('close', () => resolve())))
  const primaryPid = fixture.cluster.child.pid as number
  const primaryFds = fdsOf(primaryPid)

  process.kill(victim, 'SIGKILL')
  // Once the primary knows the worker is gone, connections for its slot wait for the replacement:
  // every one of them is served there (a hung or refused one fails whoami's 5 s bound).
  await fixture.cluster.waitForLog((line) => line.msg === 'worker died; replacing it in the same slot' && line.workerPid === victim)
  const burst = await Promise.all(Array.from({ length: 30 }, async (_, i) => await whoami(fixture.cluster.port, victimAddresses[i % victimAddresses.length])))
  await Promise.all(victimClosed)

  const replaced = await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === slotOf.get(victim))
  assert.equal(burst.length, 30)
  for (const seen of burst) {
    assert.equal(seen.slot, slotOf.get(victim), 'a waiting connection never moves to another slot')
    assert.equal(seen.pid, replaced.workerPid, 'it is served by the replacement')
  }

  for (const ws of survivorTunnels) assert.equal(await echoOnce(ws, 'still here'), 'still here')
  for (const address of victimAddresses) {
    const seen = await whoami(fixture.cluster.port, address)
    assert.equal(seen.slot, slotOf.get(victim))
    assert.equal(seen.pid, replaced.workerPid)
    assert.notEqual(seen.pid, victim)
  }
  for (const address of survivorAddresses) assert.equal((await whoami(fixture.cluster.port, address)).pid, survivor)

  await Promise.all(survivorTunnels.map(async (ws) => await new Promise<void>((resolve) => { ws.once('close', () => resolve()); ws.close() })))
  // Every socket the primary held for the dead worker is closed: its descriptor count is back where it was.
  const deadline = Date.now() + 5000
  while (fdsOf(primaryPid) > primaryFds && Date.now() < deadline) await sleep(50)
  assert.ok(fdsOf(primaryPid) <= primaryFds, `primary holds ${fdsOf(primaryPid)} fds, had ${primaryFds}`)

  const status = JSON.parse((await runCli(['status', '--json', '--config', 'ws-cluster.config.json'], fixture.dir)).stdout) as { primary: { restarts: number }, workers: Array<{ pid: number, slot: number }> }
  assert.equal(status.primary.restarts, 1)
  assert.deepEqual(status.workers.map((w) => w.slot).sort(), [0, 1])
  assert.ok(status.workers.some((w) => w.pid === replaced.workerPid))
})

test('R41 a worker that keeps crashing is respawned with growing delays (each twice the last), each waited out, and logged', async () => {
  const address = '127.0.6.1'
  const first = await whoami(fixture.cluster.port, address)
  const delays: number[] = []
  let pid = first.pid
  for (let kill = 0; kill < 4; kill++) {
    process.kill(pid, 'SIGKILL')
    const died = await fixture.cluster.waitForLog((line) => line.msg === 'worker died; replacing it in the same slot' && line.workerPid === pid)
    const replaced = await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === first.slot && line.workerPid !== pid && (line.time as number) >= (died.time as number), 20_000)
    const delay = died.respawnInMs as number
    delays.push(delay)
    pid = replaced.workerPid as number
    // The replacement process is forked once the delay has passed (not sooner), and is ready soon after.
    const forkedAt = processStartedAt(pid)
    assertTimer(forkedAt, { armedAfter: died.time as number, armedBefore: died.time as number }, delay, 0, `respawn ${kill + 1}: fork`)
    assert.ok((replaced.time as number) - forkedAt <= WORKER_BOOT_MS, `respawn ${kill + 1}: ready ${(replaced.time as number) - forkedAt} ms after its fork`)
  }
  // The first quick death may be the first of a streak (no delay); from the first delay on, each doubles.
  const backedOff = delays.slice(delays.findIndex((d) => d > 0))
  assert.ok(backedOff.length >= 2 && backedOff[0] > 0, `a crash loop backs off: ${delays.join(', ')} ms`)
  for (let i = 1; i < backedOff.length; i++) assert.equal(backedOff[i], backedOff[i - 1] * 2, `growing delays: ${delays.join(', ')} ms`)
  assert.equal((await httpGet(fixture.cluster.port, '/whoami', address)).status, 200)
})

test('R41 R38 killing a worker under a stream of hand-offs: every connection settles, queued ones are served by the replacement, the primary leaks no descriptor', async () => {
  const target = await whoami(fixture.cluster.port, '127.0.0.1')
  const primaryPid = fixture.cluster.child.pid as number
  const primaryFds = fdsOf(primaryPid)
  const total = 1500
  let started = 0
  let answered = 0
  let failed = 0
  let settled = 0
  await new Promise<void>((resolve) => {
    const one = (): void => {
      if (started >= total) return
      started++
      const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port })
      let gotData = false
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')))
      socket.once('connect', () => socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
      socket.on('data', () => { gotData = true })
      socket.on('error', () => {})
      socket.once('close', () => {
        if (gotData) answered++
        else failed++
        if (++settled === total) resolve()
        else one()
      })
    }
    for (let i = 0; i < 50; i++) one()
    const killer = setInterval(() => {
      if (settled < 200) return
      clearInterval(killer)
      process.kill(target.pid, 'SIGKILL')
    }, 5)
  })
  assert.equal(settled, total)
  // At most the connections the dead worker had already received are lost; the queued ones were served.
  assert.ok(failed <= 50, `${failed} connections failed`)
  assert.ok(answered >= total - 50)
  await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === target.slot && line.workerPid !== target.pid)
  const deadline = Date.now() + 5000
  while (fdsOf(primaryPid) > primaryFds && Date.now() < deadline) await sleep(50)
  assert.ok(fdsOf(primaryPid) <= primaryFds, `primary holds ${fdsOf(primaryPid)} fds, had ${primaryFds}`)
})
