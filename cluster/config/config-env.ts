import type { CliFlags, ClusterConfig, LogOptions } from './config-types.js'
import { checkDuration, checkEnum, got } from '../../plugin/internal.js'
import { checkPort } from './config-file-checks.js'
import type { ConfigProblem } from './config-validate.js'
import { DEFAULTS, LOG_LEVELS, checkWorkers, crossCheck } from './config-validate.js'

/**
 * Every environment variable ws-cluster reads: the ones that override the
 * config file (and are overridden by flags), and the run folder.
 */
export const ENV = {
  config: 'WS_CLUSTER_CONFIG',
  port: 'WS_CLUSTER_PORT',
  host: 'WS_CLUSTER_HOST',
  workers: 'WS_CLUSTER_WORKERS',
  logLevel: 'WS_CLUSTER_LOG_LEVEL',
  prettyLogs: 'WS_CLUSTER_PRETTY_LOGS',
  adminPort: 'WS_CLUSTER_ADMIN_PORT',
  shutdownTimeout: 'WS_CLUSTER_SHUTDOWN_TIMEOUT',
  /** Where the pid file and control socket live (cluster/run-state.ts); not a config override. */
  runDir: 'WS_CLUSTER_RUN_DIR'
} as const

/** Already-validated values that replace what the config file says. */
export interface ConfigOverrides {
  port?: number
  host?: string
  workers?: number
  logLevel?: NonNullable<LogOptions['level']>
  prettyLogs?: boolean
  /** `false` turns the admin listener off. */
  adminPort?: number | false
  shutdownTimeout?: number
}

const TRUE_WORDS = ['1', 'true', 'yes', 'on']
const FALSE_WORDS = ['0', 'false', 'no', 'off']

/** Environment values are text; a number is accepted only when written as plain digits. */
function integerText (text: string): number | string {
  return /^\d{1,10}$/.test(text) ? Number(text) : text
}

/**
 * Reads the `WS_CLUSTER_*` overrides. An empty variable counts as unset (so
 * `WS_CLUSTER_PORT= ws-cluster start` behaves like not setting it); a bad
 * value is reported as a problem whose path is the variable name.
 *
 * @example
 * const { overrides, problems } = readEnvOverrides({ WS_CLUSTER_PORT: '9000' })
 * // overrides.port === 9000, problems = []
 */
export function readEnvOverrides (env: NodeJS.ProcessEnv): { overrides: ConfigOverrides, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const overrides: ConfigOverrides = {}
  const read = (name: string): string | undefined => {
    const value = env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const port = read(ENV.port)
  if (port !== undefined) overrides.port = checkPort(integerText(port), ENV.port, problems)
  const host = read(ENV.host)
  if (host !== undefined) overrides.host = host
  const workers = read(ENV.workers)
  if (workers !== undefined) overrides.workers = checkWorkers(workers === 'auto' ? workers : integerText(workers), ENV.workers, problems)
  const level = read(ENV.logLevel)
  if (level !== undefined) overrides.logLevel = checkEnum(level, ENV.logLevel, LOG_LEVELS, problems)
  const pretty = read(ENV.prettyLogs)
  if (pretty !== undefined) {
    const word = pretty.toLowerCase()
    if (TRUE_WORDS.includes(word)) overrides.prettyLogs = true
    else if (FALSE_WORDS.includes(word)) overrides.prettyLogs = false
    else problems.push({ path: ENV.prettyLogs, message: got(pretty, `${TRUE_WORDS.join(', ')} or ${FALSE_WORDS.join(', ')}`) })
  }
  const adminPort = read(ENV.adminPort)
  if (adminPort !== undefined) {
    if (FALSE_WORDS.includes(adminPort.toLowerCase()) && adminPort !== '0') overrides.adminPort = false
    else {
      const before = problems.length
      const value = checkPort(integerText(adminPort), ENV.adminPort, problems)
      if (problems.length > before) problems[before].message += ', or "off" to disable the admin listener'
      else overrides.adminPort = value
    }
  }
  const timeout = read(ENV.shutdownTimeout)
  if (timeout !== undefined) overrides.shutdownTimeout = checkDuration(integerText(timeout), ENV.shutdownTimeout, problems)
  for (const key of Object.keys(overrides) as Array<keyof ConfigOverrides>) {
    if (overrides[key] === undefined) delete overrides[key]
  }
  return { overrides, problems }
}

/** The flags that change the config (the others select files or output formats). */
export function flagOverrides (flags: CliFlags, cpuCount: () => number): ConfigOverrides {
  const overrides: ConfigOverrides = {}
  if (flags.port !== undefined) overrides.port = flags.port
  if (flags.host !== undefined) overrides.host = flags.host
  if (flags.workers !== undefined) overrides.workers = flags.workers === 'auto' ? cpuCount() : flags.workers
  if (flags.prettyLogs !== undefined) overrides.prettyLogs = flags.prettyLogs
  return overrides
}

/**
 * Applies overrides to a validated config, returning a new config (and any
 * problem they create, such as the admin port colliding with the listener).
 */
export function applyOverrides (config: ClusterConfig, overrides: ConfigOverrides): { config: ClusterConfig, problems: ConfigProblem[] } {
  const next: ClusterConfig = {
    ...config,
    listen: { ...config.listen },
    log: { ...config.log },
    admin: config.admin === null ? null : { ...config.admin }
  }
  if (overrides.port !== undefined) next.listen.port = overrides.port
  if (overrides.host !== undefined) next.listen.host = overrides.host
  if (overrides.workers !== undefined) next.workers = overrides.workers
  if (overrides.logLevel !== undefined) next.log.level = overrides.logLevel
  if (overrides.prettyLogs !== undefined) next.log.pretty = overrides.prettyLogs
  if (overrides.adminPort === false) next.admin = null
  else if (overrides.adminPort !== undefined) next.admin = { host: next.admin?.host ?? DEFAULTS.adminHost, port: overrides.adminPort }
  if (overrides.shutdownTimeout !== undefined) next.shutdownTimeout = overrides.shutdownTimeout
  return { config: next, problems: crossCheck(next) }
}
