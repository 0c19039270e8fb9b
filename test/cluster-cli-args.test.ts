import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { UsageError, parseCliArgs, type CommandName } from '../cluster/cli/cli-args.js'
import { ENV_HELP, helpText } from '../cluster/cli/cli-help.js'
import { ENV } from '../cluster/config/config-env.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// R38: these tests open nothing; the file-wide check proves it.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

function usageError (argv: string[], message: RegExp): void {
  assert.throws(() => parseCliArgs(argv), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`)
    assert.equal(err.exitCode, 2)
    assert.match(err.message, message)
    return true
  }, argv.join(' '))
}

test('cli: commands and their flags, long, short and inline forms, before or after the command', () => {
  assert.deepEqual(parseCliArgs(['start', '--port', '9000', '--host', '127.0.0.1', '--workers', 'auto', '--pretty-logs', '--config', 'x.json']), {
    command: 'start', help: false, flags: { port: 9000, host: '127.0.0.1', workers: 'auto', prettyLogs: true, config: 'x.json' }
  })
  assert.deepEqual(parseCliArgs(['-c', 'a.mjs', 'start', '-p0', '-w', '3']), { command: 'start', help: false, flags: { config: 'a.mjs', port: 0, workers: 3 } })
  assert.deepEqual(parseCliArgs(['start', '--port=65535']), { command: 'start', help: false, flags: { port: 65535 } })
  assert.deepEqual(parseCliArgs(['check', '--config', 'c.json']), { command: 'check', help: false, flags: { config: 'c.json' } })
  assert.deepEqual(parseCliArgs(['status', '--json']), { command: 'status', help: false, flags: { json: true } })
  for (const command of ['reload', 'stop'] as CommandName[]) assert.deepEqual(parseCliArgs([command]), { command, help: false, flags: {} })
  assert.deepEqual(parseCliArgs([]), { command: null, help: false, flags: {} })
})

test('cli: --help, -h and "help <command>" ask for help', () => {
  assert.deepEqual(parseCliArgs(['--help']), { command: null, help: true, flags: { help: true } })
  assert.deepEqual(parseCliArgs(['start', '-h']), { command: 'start', help: true, flags: { help: true } })
  assert.deepEqual(parseCliArgs(['help', 'reload']), { command: 'reload', help: true, flags: { help: true } })
  assert.deepEqual(parseCliArgs(['help']), { command: null, help: true, flags: { help: true } })
})

test('cli: bad usage is a UsageError (exit code 2) naming the argument and what is allowed', () => {
  usageError(['strat'], /^unknown command "strat"; did you mean "start"\? commands: start, check, reload, stop, status$/)
  usageError(['frobnicate'], /^unknown command "frobnicate" commands: start, check/)
  usageError(['start', '--prot', '80'], /^unknown option --prot; did you mean --port\?/)
  usageError(['start', '-x'], /^unknown option -x/)
  usageError(['start', '--port', '70000'], /^--port: got "70000"; allowed: an integer from 0 to 65535$/)
  usageError(['start', '--port', '8o'], /^--port: got "8o"/)
  usageError(['start', '--port'], /^--port needs a value: --port PORT$/)
  usageError(['start', '--port', '--pretty-logs'], /^--port needs a value/)
  usageError(['start', '--workers', '0'], /^--workers: got "0"; allowed: "auto" \(one per CPU/)
  usageError(['start', '--workers', 'all'], /^--workers: got "all"/)
  usageError(['start', '--pretty-logs=yes'], /^--pretty-logs takes no value \(got "yes"\)$/)
  usageError(['check', '--port', '80'], /^--port is not an option of "check"; usage: ws-cluster check \[--config FILE\]$/)
  usageError(['start', '--json'], /^--json is not an option of "start"/)
  usageError(['start', 'extra'], /^unexpected argument "extra"; usage: ws-cluster start/)
  usageError(['stop', '--', 'now'], /^unexpected argument "now"/)
})

test('cli: the overview lists every command; each command\'s help lists its flags with their env variables', () => {
  const overview = helpText(null)
  assert.match(overview, /^Usage: ws-cluster <command> \[options\]/)
  for (const command of ['start', 'check', 'reload', 'stop', 'status']) assert.match(overview, new RegExp(`\\n {2}${command} +\\S`))

  const start = helpText('start')
  for (const [flag, env] of [['--config FILE', ENV.config], ['--port PORT', ENV.port], ['--host HOST', ENV.host], ['--workers N|auto', ENV.workers], ['--pretty-logs', ENV.prettyLogs]]) {
    assert.match(start, new RegExp(`${flag.replace('|', '\\|')} .*\\[env ${env}\\]`), flag)
  }
  // Variables without a flag are listed too, so every override can be found from --help.
  for (const env of Object.values(ENV)) assert.ok(start.includes(env), env)
  for (const env of Object.values(ENV).filter(e => e !== ENV.runDir)) assert.ok(helpText('check').includes(env), env)
  assert.match(helpText('status'), /--json +print the status as JSON/)
  assert.doesNotMatch(helpText('stop'), /--port/)
  for (const command of ['start', 'check', 'reload', 'stop', 'status'] as CommandName[]) {
    assert.match(helpText(command), new RegExp(`^Usage: ws-cluster ${command}`))
    assert.match(helpText(command), /-h, --help/)
  }
})

test('cli: each command\'s help lists the environment variables that command reads, and the overview lists every one (R92)', () => {
  const mentioned = (text: string): string[] => [...new Set(text.match(/WS_CLUSTER_[A-Z_]+/g) ?? [])].sort()
  for (const command of ['start', 'check', 'reload', 'stop', 'status'] as CommandName[]) {
    const reads = ENV_HELP.filter(v => v.commands.includes(command)).map(v => v.name).sort()
    assert.deepEqual(mentioned(helpText(command)), reads, command)
  }
  // The commands that find a running cluster read its run folder and config name, and say so.
  for (const command of ['start', 'reload', 'stop', 'status'] as CommandName[]) {
    assert.match(helpText(command), new RegExp(`\\n {2}${ENV.runDir} +folder of the pid file and control socket`), command)
    assert.match(helpText(command), new RegExp(`\\n {2}${ENV.config} +config file`), command)
  }
  assert.deepEqual(mentioned(helpText(null)), Object.values(ENV).sort())
  assert.deepEqual(ENV_HELP.map(v => v.name).sort(), Object.values(ENV).sort(), 'every variable in ENV has a help entry')
})

test('cli: --version and -v are flags of every command; a usage error names the command whose help comes with it', () => {
  assert.deepEqual(parseCliArgs(['--version']), { command: null, help: false, flags: { version: true } })
  assert.deepEqual(parseCliArgs(['-v']), { command: null, help: false, flags: { version: true } })
  assert.throws(() => parseCliArgs(['--prot', '80', 'start']), (err: unknown) => err instanceof UsageError && err.command === 'start' && err.code === 'WS_CLUSTER_USAGE')
  assert.throws(() => parseCliArgs(['status', '--json=yes']), (err: unknown) => err instanceof UsageError && err.command === 'status')
  assert.throws(() => parseCliArgs(['strat']), (err: unknown) => err instanceof UsageError && err.command === null)
})
