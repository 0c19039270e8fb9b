import pino, { type Logger, type LevelWithSilent } from 'pino'
import pretty from 'pino-pretty'

export interface LoggerSettings {
  level: LevelWithSilent
  /** Human-readable lines instead of NDJSON. */
  pretty: boolean
}

/**
 * Whether logs should be pretty: asked for (`--pretty-logs`, `log.pretty`) or
 * a person is watching (stdout is a TTY). Containers and log shippers get
 * NDJSON because their stdout is a pipe.
 *
 * @example
 * wantsPrettyLogs(config.log.pretty || flags.prettyLogs === true)
 */
export function wantsPrettyLogs (requested: boolean): boolean {
  return requested || process.stdout.isTTY === true
}

/**
 * The runtime's pino logger (primary and workers alike). Pretty output goes
 * through pino-pretty in-process and synchronously, so a worker that exits
 * right after logging does not lose its last lines and no transport thread
 * is started per worker.
 *
 * @example
 * const log = createLogger({ level: 'info', pretty: false }, { role: 'primary' })
 * log.info({ port }, 'cluster ready')
 */
export function createLogger (settings: LoggerSettings, bindings: Record<string, unknown> = {}): Logger {
  const options = { level: settings.level, base: { pid: process.pid, ...bindings } }
  if (settings.pretty) {
    return pino(options, pretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'hostname' }))
  }
  return pino(options, pino.destination({ dest: 1, sync: true }))
}
