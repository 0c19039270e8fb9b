#!/usr/bin/env node
import { runCheck } from './check-command.js'
import { helpText, parseCliArgs, UsageError, type CliFlags } from './cli-args.js'
import { ConfigError, loadConfig } from './config-load.js'
import { runFromNginx } from './from-nginx/from-nginx-command.js'
import { runControlCommand } from './control-client.js'
import { createLogger, wantsPrettyLogs } from './logger.js'
import { Primary } from './primary.js'
import { isAlive, readPid, runStateFor } from './run-state.js'

/**
 * The `ws-cluster` command: `start` runs the primary in the foreground,
 * `check` validates the config, `reload | stop | status` talk to a running
 * cluster, `from-nginx` translates an nginx config. Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */

interface Io {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

async function start (flags: CliFlags, io: Io): Promise<number | null> {
  let config
  try {
    config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`ws-cluster start: ${err.message}\n`)
      return 1
    }
    throw err
  }
  const pretty = wantsPrettyLogs(config.log.pretty || flags.prettyLogs === true)
  const log = createLogger({ level: config.log.level, pretty }, { role: 'primary' })
  const runState = runStateFor(config.file, io.env, io.cwd)
  const running = readPid(runState)
  if (running !== null && running !== process.pid && isAlive(running)) {
    log.error({ runningPid: running, pidFile: runState.pidFile }, 'a ws-cluster already runs for this config; stop it first or set WS_CLUSTER_RUN_DIR')
    return 1
  }

  let stopping = false
  // Graceful and idempotent: a repeated `ws-cluster stop` waits for the same drain.
  const requestStop = (reason: string): void => {
    stopping = true
    primary.stop(reason).then((code) => process.exit(code), (err: Error) => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  // R39: the first signal drains, a second one means "now".
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) {
      requestStop(signal)
      return
    }
    log.warn({ signal }, 'second stop signal: exiting now without draining')
    primary.forceStop()
    process.exit(1)
  }
  const file = config.file ?? undefined
  const primary = new Primary({
    config,
    loadConfig: async () => await loadConfig({ file, cwd: io.cwd, env: io.env, flags }),
    runState,
    log,
    pretty,
    requestStop
  })
  process.on('SIGTERM', onStopSignal)
  process.on('SIGINT', onStopSignal)
  process.on('SIGHUP', () => { primary.reload().catch((err: Error) => log.error({ err }, 'reload failed')) })

  try {
    await primary.start()
  } catch (err) {
    log.fatal({ err }, 'ws-cluster could not start')
    return 1
  }
  const { address, port } = primary.address
  const admin = primary.adminAddress
  log.info({
    host: address,
    port,
    tls: config.listen.tls !== null,
    proxyProtocol: config.listen.proxyProtocol,
    workers: config.workers,
    admin: admin === null ? null : `${admin.address}:${admin.port}`,
    adminPort: admin?.port ?? null,
    controlSocket: runState.controlSocket,
    config: config.file
  }, 'ws-cluster ready')
  // Keep running: the listeners and workers hold the event loop.
  return null
}

/** Runs one CLI invocation; resolves with the exit code, or null when the process keeps running (`start`). */
export async function main (argv: string[], io: Io): Promise<number | null> {
  // from-nginx takes a file and flags of its own, parsed in its room (cluster/from-nginx/).
  if (argv[0] === 'from-nginx' || (argv[0] === 'help' && argv[1] === 'from-nginx')) return await runFromNginx(argv[0] === 'help' ? ['--help'] : argv.slice(1), io)
  let parsed
  try {
    parsed = parseCliArgs(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`ws-cluster: ${err.message}\n\n${helpText(null)}`)
      return 2
    }
    throw err
  }
  const { command, flags, help } = parsed
  if (help || command === null) {
    const text = helpText(command)
    ;(help ? io.stdout : io.stderr).write(text.endsWith('\n') ? text : `${text}\n`)
    return help ? 0 : 2
  }
  switch (command) {
    case 'check':
      return await runCheck(flags, io)
    case 'start':
      return await start(flags, io)
    default:
      return await runControlCommand(command, flags, io)
  }
}

main(process.argv.slice(2), { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr }).then((code) => {
  if (code !== null) process.exitCode = code
}, (err: Error) => {
  process.stderr.write(`ws-cluster: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
