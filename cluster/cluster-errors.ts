import createError from '@fastify/error'
import type { OptionProblem } from '../plugin/internal.js'

/**
 * The cluster runtime's errors, built like the plugin's (plugin/errors.ts):
 * `@fastify/error` constructors with stable `WS_CLUSTER_*` codes, so scripts
 * and tests tell failures apart by code, never by text. These are not HTTP
 * answers, so they carry no status code.
 */

// createError turns a status code of 0 into "none".
const NO_STATUS = 0

const UsageErrorBase = createError<[string]>('WS_CLUSTER_USAGE', '%s', NO_STATUS)

/** Bad command-line usage; the CLI prints the message and the command's help and exits with code 2, like most Unix tools. */
export class UsageError extends UsageErrorBase {
  readonly exitCode = 2
  /** The command whose help explains the mistake, or null for the overview. */
  readonly command: string | null

  constructor (message: string, command: string | null = null) {
    super(message)
    this.name = 'UsageError'
    this.command = command
  }
}

const ConfigErrorBase = createError<[string]>('WS_CLUSTER_INVALID_CONFIG', '%s', NO_STATUS)

/**
 * The configuration cannot be used. `problems` lists every reason with its
 * path (an option path, an environment variable, or `(file)`) (like the plugin's `WS_CLUSTER_INVALID_OPTION`); `file` is the config
 * file, or null when none was found.
 */
export class ConfigError extends ConfigErrorBase {
  readonly problems: OptionProblem[]
  readonly file: string | null

  constructor (file: string | null, problems: OptionProblem[], message?: string) {
    super(message ?? `Invalid ws-cluster configuration${file === null ? '' : ` in ${file}`}:\n` +
      problems.map(p => `  ${p.path}: ${p.message}`).join('\n'))
    this.name = 'ConfigError'
    this.file = file
    this.problems = problems
  }
}

/** A worker process did not become ready: its `app` failed to load, it died, or it took too long. */
export const WorkerStartError = createError<[number, string]>(
  'WS_CLUSTER_WORKER_START_FAILED',
  'worker for slot %d failed to start: %s',
  NO_STATUS
)

const InvalidAppErrorBase = createError<[string, string]>(
  'WS_CLUSTER_INVALID_APP',
  'app %s must export a Fastify plugin function as its default export; got %s',
  NO_STATUS
)

/** The config's `app` module loaded but its default export is not a Fastify plugin. Named, because `check` shows the name. */
export class InvalidAppError extends InvalidAppErrorBase {
  constructor (file: string, got: string) {
    super(file, got)
    this.name = 'InvalidAppError'
  }
}

/** A listener (clients, admin, control socket) could not be opened: the address is busy, not ours, or not allowed. */
export const ListenError = createError<[string, string, { cause: unknown }?]>(
  'WS_CLUSTER_LISTEN_FAILED',
  'cannot listen on %s: %s',
  NO_STATUS
)
