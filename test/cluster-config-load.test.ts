import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { CONFIG_FILE_NAMES, ConfigError, findConfigFile, loadConfig } from '../cluster/config/config-load.js'
import { validateConfig } from '../cluster/config/config-validate.js'
import { MINIMAL, tempDir } from './helpers/config-fixtures.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// R38: loading opens files only; the file-wide check proves none stay open.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

async function loadError (opts: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  try {
    await loadConfig(opts)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.code, 'WS_CLUSTER_INVALID_CONFIG')
    return err
  }
  throw new assert.AssertionError({ message: 'loadConfig did not throw' })
}

test('config: the file is found as ws-cluster.config.json, then .mjs, then .js', async (t) => {
  const dir = await tempDir(t, {
    'ws-cluster.config.json': MINIMAL,
    'ws-cluster.config.mjs': `export default ${JSON.stringify({ ...MINIMAL, workers: 3 })}`,
    'ws-cluster.config.js': `module.exports = ${JSON.stringify({ ...MINIMAL, workers: 4 })}`
  })
  assert.equal(await findConfigFile(dir), join(dir, 'ws-cluster.config.json'))
  await rm(join(dir, 'ws-cluster.config.json'))
  // A directory with the right name is not a config file.
  await mkdir(join(dir, 'ws-cluster.config.json'))
  assert.equal(await findConfigFile(dir), join(dir, 'ws-cluster.config.mjs'))
  assert.equal((await loadConfig({ cwd: dir, env: {}, flags: {} })).workers, 3)
  await rm(join(dir, 'ws-cluster.config.mjs'))
  assert.equal(await findConfigFile(dir), join(dir, 'ws-cluster.config.js'))
  // A CommonJS .js file works too: its module.exports is the default export.
  assert.equal((await loadConfig({ cwd: dir, env: {}, flags: {} })).workers, 4)
  await rm(join(dir, 'ws-cluster.config.js'))
  assert.equal(await findConfigFile(dir), null)
})

test('config: without a config file the error names the directory, the files looked for and a minimal example', async (t) => {
  const dir = await tempDir(t)
  const err = await loadError({ cwd: dir, env: {}, flags: {} })
  assert.equal(err.file, null)
  assert.ok(err.message.startsWith(`No ws-cluster config file found in ${dir}; looked for ws-cluster.config.json, ws-cluster.config.mjs, ws-cluster.config.js.`))
  assert.match(err.message, /--config FILE, or set WS_CLUSTER_CONFIG/)
  // The example invents no backend: the port is a placeholder the user must fill in.
  const example = err.message.slice(err.message.indexOf('{'), err.message.lastIndexOf('}') + 1)
  assert.match(example, /"http:\/\/127\.0\.0\.1:PORT"/)
  assert.doesNotMatch(example, /:\d+"/)
  const filled = JSON.parse(example.replace('PORT', '9001')) as unknown
  assert.deepEqual(validateConfig(filled, null).problems, [])
  assert.deepEqual(CONFIG_FILE_NAMES, ['ws-cluster.config.json', 'ws-cluster.config.mjs', 'ws-cluster.config.js'])
})

test('config: precedence is defaults < file < environment < flags', async (t) => {
  const dir = await tempDir(t, {
    'ws-cluster.config.json': { ...MINIMAL, listen: { port: 7000, host: '127.0.0.1' }, workers: 2, log: { level: 'warn' }, shutdownTimeout: '5s' }
  })
  const env = {
    WS_CLUSTER_PORT: '7100',
    WS_CLUSTER_HOST: '::1',
    WS_CLUSTER_WORKERS: 'auto',
    WS_CLUSTER_LOG_LEVEL: 'debug',
    WS_CLUSTER_PRETTY_LOGS: 'yes',
    WS_CLUSTER_ADMIN_PORT: '9300',
    WS_CLUSTER_SHUTDOWN_TIMEOUT: '2m'
  }
  const fileOnly = await loadConfig({ cwd: dir, env: {}, flags: {} })
  assert.deepEqual([fileOnly.listen.port, fileOnly.listen.host, fileOnly.workers, fileOnly.log.level, fileOnly.log.pretty, fileOnly.admin?.port, fileOnly.shutdownTimeout],
    [7000, '127.0.0.1', 2, 'warn', false, 9090, 5000])
  const withEnv = await loadConfig({ cwd: dir, env, flags: {} })
  assert.deepEqual([withEnv.listen.port, withEnv.listen.host, withEnv.workers, withEnv.log.level, withEnv.log.pretty, withEnv.admin?.port, withEnv.shutdownTimeout],
    [7100, '::1', availableParallelism(), 'debug', true, 9300, 120_000])
  const withFlags = await loadConfig({ cwd: dir, env, flags: { port: 7200, host: '127.0.0.2', workers: 1, prettyLogs: false } })
  assert.deepEqual([withFlags.listen.port, withFlags.listen.host, withFlags.workers, withFlags.log.pretty], [7200, '127.0.0.2', 1, false])
  // Empty variables count as unset; "off" turns the admin listener off.
  const blank = await loadConfig({ cwd: dir, env: { WS_CLUSTER_PORT: '', WS_CLUSTER_WORKERS: ' ', WS_CLUSTER_ADMIN_PORT: 'off' }, flags: {} })
  assert.deepEqual([blank.listen.port, blank.workers, blank.admin], [7000, 2, null])
})

test('config: the file comes from opts.file, else --config, else WS_CLUSTER_CONFIG, resolved against cwd', async (t) => {
  const dir = await tempDir(t, {
    'a.json': { ...MINIMAL, workers: 1 },
    'b.json': { ...MINIMAL, workers: 2 },
    'c.json': { ...MINIMAL, workers: 3 },
    'ws-cluster.config.json': { ...MINIMAL, workers: 4 }
  })
  const env = { WS_CLUSTER_CONFIG: 'c.json' }
  assert.equal((await loadConfig({ file: 'a.json', cwd: dir, env, flags: { config: 'b.json' } })).workers, 1)
  assert.equal((await loadConfig({ cwd: dir, env, flags: { config: 'b.json' } })).workers, 2)
  const fromEnv = await loadConfig({ cwd: dir, env, flags: {} })
  assert.equal(fromEnv.workers, 3)
  assert.equal(fromEnv.file, join(dir, 'c.json'))
  assert.equal((await loadConfig({ cwd: dir, env: {}, flags: {} })).workers, 4)
  const missing = await loadError({ cwd: dir, env: { WS_CLUSTER_CONFIG: 'nope.json' }, flags: {} })
  assert.deepEqual(missing.problems, [{ path: '(file)', message: `cannot read ${join(dir, 'nope.json')} (from WS_CLUSTER_CONFIG): no such file (ENOENT)` }])
})

test('config: bad environment values are problems named by the variable, reported with the file\'s problems', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.json': { ...MINIMAL, workers: 0 } })
  const err = await loadError({
    cwd: dir,
    flags: {},
    env: {
      WS_CLUSTER_PORT: '80a',
      WS_CLUSTER_WORKERS: '-2',
      WS_CLUSTER_LOG_LEVEL: 'loud',
      WS_CLUSTER_PRETTY_LOGS: 'maybe',
      WS_CLUSTER_ADMIN_PORT: '65536',
      WS_CLUSTER_SHUTDOWN_TIMEOUT: 'soon'
    }
  })
  assert.equal(err.file, join(dir, 'ws-cluster.config.json'))
  assert.deepEqual(err.problems.map(p => p.path), [
    'workers', 'WS_CLUSTER_PORT', 'WS_CLUSTER_WORKERS', 'WS_CLUSTER_LOG_LEVEL', 'WS_CLUSTER_PRETTY_LOGS', 'WS_CLUSTER_ADMIN_PORT', 'WS_CLUSTER_SHUTDOWN_TIMEOUT'
  ])
  const byPath = Object.fromEntries(err.problems.map(p => [p.path, p.message]))
  assert.equal(byPath.WS_CLUSTER_PORT, 'got "80a"; allowed: an integer from 0 to 65535')
  assert.match(byPath.WS_CLUSTER_WORKERS, /^got "-2"; allowed: "auto"/)
  assert.match(byPath.WS_CLUSTER_LOG_LEVEL, /^got "loud"; allowed: "fatal", "error"/)
  assert.equal(byPath.WS_CLUSTER_PRETTY_LOGS, 'got "maybe"; allowed: 1, true, yes, on or 0, false, no, off')
  assert.equal(byPath.WS_CLUSTER_ADMIN_PORT, 'got 65536; allowed: an integer from 0 to 65535, or "off" to disable the admin listener')
  assert.match(byPath.WS_CLUSTER_SHUTDOWN_TIMEOUT, /^got "soon"; allowed: a non-negative number of milliseconds/)
  assert.match(err.message, /^Invalid ws-cluster configuration in .*ws-cluster\.config\.json:\n {2}workers: got 0;/)
})

test('config: an override that makes the admin port collide with the listener is refused', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.json': { ...MINIMAL, listen: { port: 7000 } } })
  const err = await loadError({ cwd: dir, env: { WS_CLUSTER_ADMIN_PORT: '7000' }, flags: {} })
  assert.deepEqual(err.problems.map(p => p.path), ['admin.port'])
  const byFlag = await loadError({ cwd: dir, env: {}, flags: { port: 9090 } })
  assert.match(byFlag.problems[0].message, /^9090 is also listen.port/)
})

test('config: unreadable, malformed or unsupported files are reported as problems of the file', async (t) => {
  const dir = await tempDir(t, {
    'broken.json': '{ "upstreams": { }, }',
    'no-default.mjs': 'export const config = {}',
    'throws.mjs': 'throw new Error("boom at load")',
    'config.yaml': 'upstreams: {}'
  })
  const cases: Array<[string, RegExp]> = [
    ['broken.json', /^is not valid JSON: /],
    ['no-default.mjs', /^has no default export; write: export default defineConfig\(/],
    ['throws.mjs', /^could not be loaded: boom at load$/],
    ['config.yaml', /^unsupported file type "\.yaml"; use \.json, \.mjs or \.js$/],
    ['absent.mjs', /^cannot read .*absent\.mjs: no such file \(ENOENT\)$/]
  ]
  for (const [name, message] of cases) {
    const err = await loadError({ cwd: dir, env: {}, flags: { config: name } })
    assert.equal(err.file, join(dir, name))
    assert.equal(err.problems.length, 1, name)
    assert.equal(err.problems[0].path, '(file)')
    assert.match(err.problems[0].message, message, name)
  }
})

test('config: loading an edited .mjs file again sees the edit (reload)', async (t) => {
  const dir = await tempDir(t, { 'ws-cluster.config.mjs': `export default ${JSON.stringify({ ...MINIMAL, workers: 1 })}` })
  assert.equal((await loadConfig({ cwd: dir, env: {}, flags: {} })).workers, 1)
  await writeFile(join(dir, 'ws-cluster.config.mjs'), `export default ${JSON.stringify({ ...MINIMAL, workers: 2 })}`)
  assert.equal((await loadConfig({ cwd: dir, env: {}, flags: {} })).workers, 2)
})
