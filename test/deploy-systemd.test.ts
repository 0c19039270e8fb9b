import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkConfigAt, minimumStopBudgetMs, readDeployFile, REPO, shutdownTimeoutMs } from './helpers/deploy-files.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { commandArgv, parseUnit, timeSpanMs, value, values } from './helpers/systemd-unit.js'

// deploy/systemd/: the unit and the config it names (installed as /etc/ws-cluster/ws-cluster.config.json).
const baseline = openFdCount()
after(() => assertNoFdLeak(baseline))

const UNIT_FILE = 'systemd/ws-cluster.service'
const unit = parseUnit(readDeployFile(UNIT_FILE))
const configText = readDeployFile('systemd/ws-cluster.config.json')
const config = JSON.parse(configText) as { shutdownTimeout?: string }
const bin = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['ws-cluster']

/** `NAME=value` pairs of every Environment= line. */
function environment (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of values(unit, 'Service', 'Environment')) {
    for (const pair of commandArgv(line)) {
      const eq = pair.indexOf('=')
      env[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
  }
  return env
}

test('systemd: ExecStart runs node on the installed CLI directly, `start --config` with the shipped config, which `ws-cluster check` accepts', async () => {
  assert.match(value(unit, 'Service', 'Type') ?? 'simple', /^(simple|exec)$/, 'the CLI stays in the foreground and does not notify')
  const argv = commandArgv(value(unit, 'Service', 'ExecStart') ?? '')
  assert.match(argv[0], /^\/.*\/node$/, 'an absolute path to node: no npx, npm or shell between systemd and the primary')
  assert.ok(argv[1].endsWith(`/node_modules/ws-cluster/${bin.replace(/^\.\//, '')}`), `the package's bin (${bin}) in an installed ws-cluster: ${argv[1]}`)
  assert.equal(argv[2], 'start')
  const configPath = argv[argv.indexOf('--config') + 1]
  assert.equal(configPath, '/etc/ws-cluster/ws-cluster.config.json')
  // The pre-start check is the same command with `check`.
  assert.deepEqual(commandArgv(value(unit, 'Service', 'ExecStartPre') ?? ''), [argv[0], argv[1], 'check', '--config', configPath])

  const env = environment()
  const { WS_CLUSTER_RUN_DIR: runDir, ...configEnv } = env
  const result = await checkConfigAt(configPath, configText, {}, configEnv)
  assert.equal(result.code, 0, result.stderr)
  // ProtectSystem=strict makes the default run folder (beside the config) read-only.
  assert.equal(runDir, `/run/${value(unit, 'Service', 'RuntimeDirectory') ?? '(no RuntimeDirectory)'}`)
})

test('systemd: reload is SIGHUP to the primary, after a config check', () => {
  const reload = values(unit, 'Service', 'ExecReload').map(commandArgv)
  assert.deepEqual(reload.at(-1), ['/bin/kill', '-HUP', '$MAINPID'])
  assert.deepEqual(reload[0]?.slice(2, 3), ['check'], 'a bad config fails `systemctl reload` instead of only the log')
})

test('systemd: stop signals the primary only and waits longer than its drain', () => {
  // mixed: SIGTERM to the primary, which drains its workers (they ignore SIGTERM); SIGKILL for leftovers only.
  assert.equal(value(unit, 'Service', 'KillMode'), 'mixed')
  assert.equal(value(unit, 'Service', 'KillSignal') ?? 'SIGTERM', 'SIGTERM')
  const stopMs = timeSpanMs(value(unit, 'Service', 'TimeoutStopSec') ?? '90s')
  const needed = minimumStopBudgetMs(config)
  assert.ok(stopMs >= needed,
    `TimeoutStopSec (${stopMs} ms) must cover shutdownTimeout (${shutdownTimeoutMs(config)} ms) + the workers' exit margin + a margin = ${needed} ms`)
  assert.equal(value(unit, 'Service', 'Restart'), 'on-failure')
})

test('systemd: open files limit and hardening', () => {
  const nofile = Number(value(unit, 'Service', 'LimitNOFILE'))
  assert.ok(Number.isInteger(nofile) && nofile >= 65_536 && nofile <= 1_048_576, `LimitNOFILE ${nofile}: high, but within the default fs.nr_open`)
  assert.equal(value(unit, 'Service', 'NoNewPrivileges'), 'yes')
  assert.equal(value(unit, 'Service', 'ProtectSystem'), 'strict')
  assert.equal(value(unit, 'Service', 'ProtectHome'), 'yes')
  assert.equal(value(unit, 'Service', 'PrivateTmp'), 'yes')
  assert.notEqual(value(unit, 'Service', 'User') ?? 'root', 'root')
  // V8's JIT writes code pages: this option would crash node.
  assert.equal(value(unit, 'Service', 'MemoryDenyWriteExecute'), undefined)
  assert.match(value(unit, 'Service', 'RestrictAddressFamilies') ?? '', /AF_UNIX/, 'the control socket and the primary-worker channel are Unix sockets')
})

test('systemd: systemd-analyze verify reports no unknown or unparsable setting', (t) => {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    t.skip('systemd-analyze is not installed (apt-get install systemd)')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'wsc-unit-'))
  try {
    const file = join(dir, 'ws-cluster.service')
    writeFileSync(file, readDeployFile(UNIT_FILE))
    const run = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 })
    // Paths under /opt do not exist on a test machine; settings problems are what this test is about.
    const problems = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => line.includes(file) && !/is not executable|No such file/.test(line))
    assert.deepEqual(problems, [])
    assert.ok(existsSync(file))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
