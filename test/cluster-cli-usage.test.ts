import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeClusterDir, runCli } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { onceWithin } from './helpers/timing.js'

// R92, R95: the CLI through the real executable — version, help with the
// environment each command reads, usage errors with that command's help,
// JSON errors with their place, start-up failures in one line.

const baseline = openFdCount()
const dir = makeClusterDir()
after(async () => {
  dir.cleanup()
  await assertNoFdLeak(baseline)
})

const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }

function config (extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    upstreams: { echo: { servers: ['http://127.0.0.1:9'] } },
    routes: [{ path: '/ws', upstream: 'echo' }],
    listen: { port: 0, host: '127.0.0.1' },
    admin: false,
    workers: 1,
    ...extra
  }, null, 2)
}

test('R95 ws-cluster --version and -v print the package version and exit 0, before any config is looked for', async () => {
  for (const flag of ['--version', '-v']) {
    const result = await runCli([flag], dir.dir)
    assert.deepEqual(result, { code: 0, stdout: `${pkg.version}\n`, stderr: '' }, flag)
  }
  assert.equal((await runCli(['status', '--version'], dir.dir)).stdout, `${pkg.version}\n`)
})

test('R95 a usage mistake exits 2 with the message and the help of that command, not the overview', async () => {
  const typo = await runCli(['start', '--prot', '80'], dir.dir)
  assert.equal(typo.code, 2)
  assert.match(typo.stderr, /^ws-cluster: unknown option --prot; did you mean --port\?\n\nUsage: ws-cluster start \[/)
  assert.match(typo.stderr, /WS_CLUSTER_RUN_DIR/, 'the start help, with its environment')
  assert.doesNotMatch(typo.stderr, /^Commands:/m)

  const before = await runCli(['--workers', 'lots', 'start'], dir.dir)
  assert.equal(before.code, 2)
  assert.match(before.stderr, /^ws-cluster: --workers: got "lots"; allowed: .*\n\nUsage: ws-cluster start /)

  const wrongCommand = await runCli(['status', '--port', '80'], dir.dir)
  assert.equal(wrongCommand.code, 2)
  assert.match(wrongCommand.stderr, /^ws-cluster: --port is not an option of "status".*\n\nUsage: ws-cluster status \[--config FILE\] \[--json\]/)

  const unknown = await runCli(['strat'], dir.dir)
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /did you mean "start"\?.*\n\nUsage: ws-cluster <command> \[options\]\n[\s\S]*Commands:/, 'no command known: the overview')
})

test('R92 the real CLI: reload, stop and status list the run folder and config variables in --help, and read them', async () => {
  for (const command of ['reload', 'stop', 'status', 'start']) {
    const help = await runCli([command, '--help'], dir.dir)
    assert.equal(help.code, 0)
    assert.match(help.stdout, /\n {2}WS_CLUSTER_RUN_DIR +folder of the pid file and control socket/, command)
    assert.match(help.stdout, /\n {2}WS_CLUSTER_CONFIG +config file/, command)
  }
  const runDir = join(dir.dir, 'elsewhere')
  const status = await runCli(['status'], dir.dir, 30_000, { WS_CLUSTER_RUN_DIR: runDir })
  assert.equal(status.code, 1)
  assert.ok(status.stderr.includes(`looked for ${runDir}/`), `status looked in WS_CLUSTER_RUN_DIR: ${status.stderr}`)
  const fromNginx = await runCli(['from-nginx', '--help'], dir.dir)
  assert.match(fromNginx.stdout, /Environment: none/)
})

test('R95 invalid JSON in the config is reported with its line and column, by check and by start', async () => {
  const file = join(dir.dir, 'broken.json')
  writeFileSync(file, '{\n  "workers": 1\n  "admin": false\n}\n')
  const check = await runCli(['check', '--config', file], dir.dir)
  assert.equal(check.code, 1)
  assert.match(check.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: is not valid JSON: line 3, column 3: Expected ',' or '}' after property value\n`))
  const start = await runCli(['start', '--config', file], dir.dir)
  assert.equal(start.code, 1)
  assert.match(start.stderr, /\(file\): is not valid JSON: line 3, column 3: /)
  writeFileSync(file, '{ "workers": tru }')
  assert.match((await runCli(['check', '--config', file], dir.dir)).stderr, /is not valid JSON: line 1, column 14: Unexpected token/)
})

test('R95 start on a busy port fails with one line naming the address and the reason, exit 1, no stack trace', async () => {
  const busy = createServer()
  busy.listen(0, '127.0.0.1')
  await onceWithin(busy, 'listening')
  const { port } = busy.address() as AddressInfo
  try {
    const file = join(dir.dir, 'busy.json')
    writeFileSync(file, config({ listen: { port, host: '127.0.0.1' } }))
    const result = await runCli(['start', '--config', file], dir.dir, 60_000)
    assert.equal(result.code, 1)
    assert.equal(result.stderr, `ws-cluster start: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)\n`)
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace')
    const fatal = result.stdout.split('\n').filter(l => l.includes('"level":60')).map(l => JSON.parse(l) as { code: string })
    assert.deepEqual(fatal.map(l => l.code), ['WS_CLUSTER_LISTEN_FAILED'])
  } finally {
    await new Promise(resolve => busy.close(resolve))
  }
})

test('R95 start with an app that throws fails with one line naming the worker and the app\'s error', async () => {
  writeFileSync(join(dir.dir, 'throws.mjs'), 'export default async function broken () { throw new Error(\'the app refused to load\') }\n')
  const file = join(dir.dir, 'throws.json')
  writeFileSync(file, config({ app: './throws.mjs' }))
  const result = await runCli(['start', '--config', file], dir.dir, 60_000)
  assert.equal(result.code, 1)
  assert.equal(result.stderr, 'ws-cluster start: worker for slot 0 failed to start: the app refused to load\n')
})
