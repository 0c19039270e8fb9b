import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStateFor } from '../cluster/run-state.js'
import { useClusterRuns } from './helpers/cluster-fixture.js'
import { makeClusterDir, runCli, startCluster, whoami, type RunningCluster } from './helpers/cluster-process.js'

// R63: run state is private and keyed by the config file; control commands act on the cluster of that config only.

const runs = useClusterRuns()
const { clusters, dirs } = runs

function config (dir: string): object {
  return {
    upstreams: { echo: { servers: [runs.backend.url] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: false,
    workers: 1,
    shutdownTimeout: '1s',
    app: join(dir, 'whoami-app.mjs')
  }
}

function newDir (): string {
  const dir = makeClusterDir()
  dirs.push(dir)
  writeFileSync(join(dir.dir, 'whoami-app.mjs'), 'export default async function (app) { app.get(\'/whoami\', async () => ({ pid: process.pid, slot: 0, client: \'\', encrypted: false })) }\n')
  return dir.dir
}

async function start (dir: string, configName: string, env: NodeJS.ProcessEnv = {}, shellPrefix?: string): Promise<RunningCluster> {
  const cluster = await startCluster(dir, config(dir), [], env, 'ws-cluster ready', { configName, shellPrefix })
  clusters.push(cluster)
  return cluster
}

test('R63 two configs in one folder run side by side; stop --config names one and stops only that one', async () => {
  const dir = newDir()
  const first = await start(dir, 'first.json')
  const second = await start(dir, 'second.json')
  assert.notEqual((await whoami(first.port)).pid, (await whoami(second.port)).pid)
  const stop = await runCli(['stop', '--config', 'second.json'], dir)
  assert.equal(stop.code, 0, stop.stderr)
  assert.match(stop.stdout, new RegExp(`pid ${second.child.pid as number}`))
  assert.equal((await second.closed).code, 0)
  assert.equal(first.child.exitCode, null, 'the first cluster still runs')
  assert.equal((await whoami(first.port)).slot, 0)
  const again = await runCli(['start', '--config', 'first.json'], dir)
  assert.equal(again.code, 1)
  assert.match(again.stdout, new RegExp(`ws-cluster pid ${first.child.pid as number} already runs config ${join(dir, 'first.json').replace(/[.]/g, '\\.')}`))
})

test('R63 with WS_CLUSTER_RUN_DIR set for one cluster only, a stop without it never reaches another cluster', async () => {
  const dir = newDir()
  const runDir = join(dir, 'elsewhere')
  const first = await start(dir, 'first.json')
  const second = await start(dir, 'second.json', { WS_CLUSTER_RUN_DIR: runDir })
  const miss = await runCli(['stop', '--config', 'second.json'], dir)
  assert.equal(miss.code, 1)
  assert.match(miss.stderr, /no running ws-cluster found for config .*second\.json/)
  assert.equal(first.child.exitCode, null)
  assert.equal(second.child.exitCode, null)
  const hit = await runCli(['stop', '--config', 'second.json'], dir, 30_000, { WS_CLUSTER_RUN_DIR: runDir })
  assert.equal(hit.code, 0, hit.stderr)
  assert.equal((await second.closed).code, 0)
  assert.equal(first.child.exitCode, null, 'the first cluster still runs')
  assert.equal((await whoami(first.port)).slot, 0)
})

test('R63 with a permissive umask the run folder is still 0700 and the control socket 0600', async () => {
  const dir = newDir()
  await start(dir, 'ws-cluster.config.json', {}, 'umask 000;')
  const state = runStateFor(join(dir, 'ws-cluster.config.json'), {}, dir)
  assert.equal(statSync(state.dir).mode & 0o777, 0o700)
  assert.equal(statSync(state.controlSocket as string).mode & 0o777, 0o600)
  assert.equal((await runCli(['status', '--json'], dir)).code, 0)
})

test('R63 a pid file naming a live process that is not a ws-cluster primary is never signalled, and does not block start', async (t) => {
  const dir = newDir()
  const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  t.after(() => { bystander.kill('SIGKILL') })
  const bystanderExit = new Promise((resolve) => bystander.once('exit', resolve))
  await new Promise((resolve) => bystander.once('spawn', resolve))
  writeFileSync(join(dir, 'ws-cluster.config.json'), JSON.stringify(config(dir)))
  const state = runStateFor(join(dir, 'ws-cluster.config.json'), {}, dir)
  mkdirSync(state.dir, { recursive: true, mode: 0o700 })
  writeFileSync(state.pidFile, `${bystander.pid as number}\n`)
  const stop = await runCli(['stop'], dir)
  assert.equal(stop.code, 1)
  assert.match(stop.stderr, new RegExp(`names pid ${bystander.pid as number}, which is not a ws-cluster primary; nothing was signalled`))
  assert.match(stop.stderr, /config .*ws-cluster\.config\.json/)
  assert.equal(bystander.exitCode, null)
  assert.equal(bystander.signalCode, null, 'the bystander was not signalled')
  const cluster = await start(dir, 'ws-cluster.config.json')
  assert.equal((await whoami(cluster.port)).slot, 0)
  bystander.kill('SIGKILL')
  await bystanderExit
})
