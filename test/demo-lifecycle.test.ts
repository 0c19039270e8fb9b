import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { descendantPids, startDemo, waitForGone } from './helpers/demo-stack.js'

// Two backends, the cluster primary and its two workers, all below the runner.
const WORKERS = 2

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`R39 npm run demo stops every process it started on ${signal} (backends, ws-cluster primary and workers)`, { timeout: 120_000 }, async () => {
    const baseline = openFdCount()
    const demo = await startDemo(['--workers', String(WORKERS)])
    try {
      const runnerPid = demo.child.pid as number
      const started = descendantPids(runnerPid)
      for (const b of demo.ready.backends) assert.ok(started.includes(b.pid), `${b.name} (pid ${b.pid}) runs below the runner`)
      assert.ok(started.includes(demo.ready.cluster.pid), 'the ws-cluster primary runs below the runner')
      const workers = descendantPids(demo.ready.cluster.pid)
      assert.ok(workers.length >= WORKERS, `ws-cluster has its ${WORKERS} workers, found ${workers.length}`)

      demo.child.kill(signal)
      const exit = await demo.exited
      assert.deepEqual(exit, { code: 0, signal: null }, `the runner exits 0 on ${signal}; output:\n${demo.output()}`)
      assert.match(demo.output(), /all processes stopped/)
      const left = await waitForGone([runnerPid, ...started, ...workers], 15_000)
      assert.deepEqual(left, [], `processes left behind after ${signal}: ${left.join(', ')}`)
    } finally {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL')
      await demo.exited
    }
    await assertNoFdLeak(baseline)
  })
}

test('R39 a second signal makes npm run demo kill everything at once', { timeout: 120_000 }, async () => {
  const baseline = openFdCount()
  const demo = await startDemo(['--workers', String(WORKERS)])
  const runnerPid = demo.child.pid as number
  const all = descendantPids(runnerPid)
  demo.child.kill('SIGINT')
  demo.child.kill('SIGINT')
  const exit = await demo.exited
  assert.ok(exit.code === 0 || exit.code === 1, `the runner exits by itself, got ${JSON.stringify(exit)}`)
  const left = await waitForGone([runnerPid, ...all], 15_000)
  assert.deepEqual(left, [], `processes left behind: ${left.join(', ')}`)
  await assertNoFdLeak(baseline)
})
