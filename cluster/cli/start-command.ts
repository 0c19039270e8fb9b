import { ConfigError, loadConfig } from '../config/config-load.js'
import type { CliFlags } from '../config/config-types.js'
import { createLogger, wantsPrettyLogs } from '../logger.js'
import { Primary } from '../primary/primary.js'
import { isClusterPrimary } from '../process-identity.js'
import { isAlive, readPid, runStateFor } from '../run-state.js'
import type { CliIo } from './cli-args.js'
import { watchWrapper } from './wrapper-watch.js'

/** A second stop signal within this time of the first is the same request (R65). */
const REPEAT_SIGNAL_WINDOW_MS = 1000

/**
 * `ws-cluster start`: runs the primary in the foreground until a stop signal
 * or `ws-cluster stop`; resolves with an exit code when it could not start,
 * or null while it runs.
 */
export async function startCommand (flags: CliFlags, io: CliIo): Promise<number | null> {
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
  // A pid file whose pid now belongs to another program is stale, not a running cluster (R63).
  if (running !== null && running !== process.pid && isAlive(running) && isClusterPrimary(running) !== 'no') {
    const configName = config.file ?? '(no config file)'
    log.error({ runningPid: running, config: configName, pidFile: runState.pidFile },
      `ws-cluster pid ${running} already runs config ${configName} (pid file ${runState.pidFile}); stop it first: ws-cluster stop${config.file === null ? '' : ` --config ${config.file}`}`)
    return 1
  }

  let stopping = false
  let firstSignalAt = 0
  // Graceful and idempotent: a repeated `ws-cluster stop` waits for the same drain.
  const requestStop = (reason: string): void => {
    stopping = true
    unwatch()
    primary.stop(reason).then((code) => process.exit(code), (err: Error) => {
      log.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  // R39: the first signal drains, a second one means "now" — but only when it comes clearly later (R65):
  // a supervisor that signals the pid and its process group delivers two at the same instant.
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (!stopping || firstSignalAt === 0) {
      firstSignalAt = Date.now()
      if (!stopping) requestStop(signal)
      return
    }
    if (Date.now() - firstSignalAt < REPEAT_SIGNAL_WINDOW_MS) {
      log.info({ signal, windowMs: REPEAT_SIGNAL_WINDOW_MS }, 'stop signal repeated at once (a supervisor signalling the process and its group?); still draining, send it again to exit now')
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
  const unwatch = watchWrapper(io.env, (reason) => {
    log.warn({ reason }, 'ws-cluster was orphaned by its wrapper; stopping gracefully')
    requestStop(reason)
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
    controlSocket: primary.controlSocket,
    config: config.file
  }, 'ws-cluster ready')
  // Keep running: the listeners and workers hold the event loop.
  return null
}
