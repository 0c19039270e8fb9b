import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { useWhoamiCluster } from './helpers/cluster-fixture.js'
import { whoami, type Whoami } from './helpers/cluster-process.js'

let hold = ''

const fixture = useWhoamiCluster({
  config: ({ dir }) => {
    hold = join(dir, 'hold-slot-0')
    const clientAddress = fileURLToPath(new URL('../plugin/client-identity.js', import.meta.url))
    // Like the whoami app, but a replacement worker for slot 0 waits while the hold file exists.
    writeFileSync(join(dir, 'held-app.mjs'), `import { existsSync } from 'node:fs'
import { clientAddressOf } from ${JSON.stringify(clientAddress)}
export default async function held (app) {
  while (process.env.WS_CLUSTER_SLOT === '0' && existsSync(${JSON.stringify(hold)})) await new Promise((resolve) => setTimeout(resolve, 20))
  app.get('/whoami', async (request) => ({ pid: process.pid, slot: Number(process.env.WS_CLUSTER_SLOT), client: clientAddressOf(request.raw.socket), encrypted: false }))
}
`)
    return { app: 'held-app.mjs' }
  },
  beforeStop: () => { if (hold !== '') rmSync(hold, { force: true }) }
})

/** GET /whoami from `localAddress` on a raw socket: the parsed answer, or null when closed without a byte. */
async function rawWhoami (localAddress: string): Promise<Whoami | null> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: fixture.cluster.port, localAddress })
    let text = ''
    socket.setEncoding('utf8')
    socket.setTimeout(15_000, () => { socket.destroy(); reject(new Error('neither answered nor closed')) })
    socket.once('connect', () => socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    socket.on('data', (c: string) => { text += c })
    socket.on('error', () => {})
    socket.once('close', () => resolve(text === '' ? null : JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Whoami))
  })
}

async function addressesBySlot (): Promise<Map<number, string>> {
  const found = new Map<number, string>()
  for (let i = 1; i <= 40 && found.size < 2; i++) {
    const address = `127.0.9.${i}`
    const seen = await whoami(fixture.cluster.port, address)
    if (!found.has(seen.slot)) found.set(seen.slot, address)
  }
  return found
}

test('R41 connections for a slot whose worker died wait for its replacement instead of moving to another worker', async () => {
  const bySlot = await addressesBySlot()
  const [slot0, slot1] = [bySlot.get(0) as string, bySlot.get(1) as string]
  const dead = await whoami(fixture.cluster.port, slot0)
  writeFileSync(hold, '')
  process.kill(dead.pid, 'SIGKILL')
  await fixture.cluster.waitForLog((line) => line.msg === 'worker died; replacing it in the same slot' && line.workerPid === dead.pid)
  const waiting = rawWhoami(slot0)
  // While slot 0 has no worker, slot 1 serves its own clients as usual.
  assert.equal((await whoami(fixture.cluster.port, slot1)).slot, 1)
  await sleep(300)
  rmSync(hold)
  const served = await waiting
  assert.ok(served !== null, 'the waiting connection was served')
  assert.equal(served.slot, 0)
  assert.notEqual(served.pid, dead.pid)
})

test('R41 R38 the wait is bounded: with no replacement in time the connection is closed without a byte', async () => {
  const bySlot = await addressesBySlot()
  const slot0 = bySlot.get(0) as string
  const dead = await whoami(fixture.cluster.port, slot0)
  writeFileSync(hold, '')
  process.kill(dead.pid, 'SIGKILL')
  await fixture.cluster.waitForLog((line) => line.msg === 'worker died; replacing it in the same slot' && line.workerPid === dead.pid)
  assert.equal(await rawWhoami(slot0), null)
  rmSync(hold)
  await fixture.cluster.waitForLog((line) => line.msg === 'worker replaced' && line.slot === 0 && line.workerPid !== dead.pid)
  assert.equal((await whoami(fixture.cluster.port, slot0)).slot, 0)
})
