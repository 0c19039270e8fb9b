import { parseArgs } from 'node:util'
import { suggestKey } from '../../plugin/internal.js'
import { ENV } from '../config/config-env.js'
import { DEFAULTS, WORKERS_ALLOWED } from '../config/config-validate.js'
import { FROM_NGINX_SUMMARY } from '../from-nginx/from-nginx-args.js'

import type { CliFlags } from '../config/config-types.js'

export type { CliFlags }

/** Where a CLI invocation reads and writes: the process's own, or a test's. */
export interface CliIo {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export type CommandName = 'start' | 'check' | 'reload' | 'stop' | 'status'

/** Bad command-line usage; the CLI prints the message and exits with code 2, like most Unix tools. */
export class UsageError extends Error {
  readonly code = 'WS_CLUSTER_USAGE'
  readonly exitCode = 2
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

interface FlagSpec {
  long: string
  short?: string
  key: keyof CliFlags
  /** Placeholder of the value in help; absent for boolean flags. */
  value?: string
  env?: string
  description: string
  commands: readonly CommandName[]
}

const ALL: readonly CommandName[] = ['start', 'check', 'reload', 'stop', 'status']

const FLAGS: readonly FlagSpec[] = [
  { long: 'config', short: 'c', key: 'config', value: 'FILE', env: ENV.config, commands: ALL, description: 'config file (default: ws-cluster.config.json, .mjs or .js in the current directory)' },
  { long: 'port', short: 'p', key: 'port', value: 'PORT', env: ENV.port, commands: ['start'], description: `port to accept clients on (default ${DEFAULTS.port})` },
  { long: 'host', key: 'host', value: 'HOST', env: ENV.host, commands: ['start'], description: `address to bind (default ${DEFAULTS.host})` },
  { long: 'workers', short: 'w', key: 'workers', value: 'N|auto', env: ENV.workers, commands: ['start'], description: 'worker processes (default auto: one per CPU)' },
  { long: 'pretty-logs', key: 'prettyLogs', env: ENV.prettyLogs, commands: ['start'], description: 'human-readable logs instead of NDJSON' },
  { long: 'json', key: 'json', commands: ['status'], description: 'print the status as JSON' },
  { long: 'help', short: 'h', key: 'help', commands: ALL, description: 'show this help' }
]

const COMMANDS: Record<CommandName, { summary: string, usage: string }> = {
  start: { summary: 'start the primary and its workers (foreground)', usage: 'ws-cluster start [--config FILE] [--port PORT] [--host HOST] [--workers N|auto] [--pretty-logs]' },
  check: { summary: 'validate the config file and exit (like nginx -t)', usage: 'ws-cluster check [--config FILE]' },
  reload: { summary: 'replace the workers one by one without dropping connections (like nginx -s reload)', usage: 'ws-cluster reload [--config FILE]' },
  stop: { summary: 'stop accepting, drain open connections, exit (like nginx -s quit)', usage: 'ws-cluster stop [--config FILE]' },
  status: { summary: 'show workers, connections and upstream health', usage: 'ws-cluster status [--config FILE] [--json]' }
}

const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[]

/** Environment variables with no flag of their own, listed in the help of the commands that read the config. */
const ENV_ONLY = [
  { name: ENV.logLevel, description: 'log level: fatal, error, warn, info, debug, trace, silent (default info)' },
  { name: ENV.adminPort, description: `admin listener port, or "off" (default ${DEFAULTS.adminPort} on ${DEFAULTS.adminHost})` },
  { name: ENV.shutdownTimeout, description: `how long open connections get on stop (default ${DEFAULTS.shutdownTimeout})` }
]

function specFor (name: string): FlagSpec | undefined {
  return FLAGS.find(f => f.long === name || f.short === name)
}

function parsePort (text: string, flag: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${flag}: got ${JSON.stringify(text)}; allowed: an integer from 0 to 65535`)
  return port
}

function parseWorkers (text: string, flag: string): 'auto' | number {
  if (text === 'auto') return 'auto'
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN
  if (!(n >= 1 && n <= DEFAULTS.workersMax)) throw new UsageError(`${flag}: got ${JSON.stringify(text)}; allowed: ${WORKERS_ALLOWED}`)
  return n
}

function setFlag (flags: CliFlags, spec: FlagSpec, value: string | undefined): void {
  const flag = `--${spec.long}`
  if (spec.value === undefined) {
    if (value !== undefined) throw new UsageError(`${flag} takes no value (got ${JSON.stringify(value)})`)
    ;(flags as Record<string, unknown>)[spec.key] = true
    return
  }
  if (value === undefined || value === '') throw new UsageError(`${flag} needs a value: ${flag} ${spec.value}`)
  if (spec.key === 'port') flags.port = parsePort(value, flag)
  else if (spec.key === 'workers') flags.workers = parseWorkers(value, flag)
  else (flags as Record<string, unknown>)[spec.key] = value
}

function unknownCommand (name: string): UsageError {
  const hint = suggestKey(name, COMMAND_NAMES)
  return new UsageError(`unknown command "${name}"${hint === null ? '' : `; did you mean "${hint}"?`} commands: ${COMMAND_NAMES.join(', ')}`)
}

/**
 * Parses `ws-cluster <command> [flags]` (argv without node and the script).
 * Flags may come before or after the command; `ws-cluster help start` equals
 * `ws-cluster start --help`. Throws {@link UsageError} naming the bad
 * argument and what is allowed.
 *
 * @example
 * const { command, flags, help } = parseCliArgs(process.argv.slice(2))
 * // ['start', '--port', '9000'] → { command: 'start', flags: { port: 9000 }, help: false }
 */
export function parseCliArgs (argv: string[]): { command: CommandName | null, flags: CliFlags, help: boolean } {
  const options = Object.fromEntries(FLAGS.map(f => [f.long, { type: f.value === undefined ? 'boolean' as const : 'string' as const, ...(f.short === undefined ? {} : { short: f.short }) }]))
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true })
  const flags: CliFlags = {}
  const given: FlagSpec[] = []
  let command: CommandName | null = null
  let helpCommand = false
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') {
      if (command === null && !helpCommand && token.value === 'help') helpCommand = true
      else if (command === null && (COMMAND_NAMES as string[]).includes(token.value)) command = token.value as CommandName
      else if (command === null) throw unknownCommand(token.value)
      else throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}; usage: ${COMMANDS[command].usage}`)
      continue
    }
    const spec = specFor(token.name)
    if (spec === undefined) {
      const hint = suggestKey(token.name, FLAGS.map(f => f.long))
      throw new UsageError(`unknown option ${token.rawName}${hint === null ? '' : `; did you mean --${hint}?`} (see ws-cluster --help)`)
    }
    const value = token.value !== undefined && !token.inlineValue && token.value.startsWith('-') ? undefined : token.value
    setFlag(flags, spec, value)
    given.push(spec)
  }
  if (command !== null) {
    for (const spec of given) {
      if (!spec.commands.includes(command)) throw new UsageError(`--${spec.long} is not an option of "${command}"; usage: ${COMMANDS[command].usage}`)
    }
  }
  const help = helpCommand || flags.help === true
  if (help) flags.help = true
  return { command, flags, help }
}

function flagLines (command: CommandName): string[] {
  return FLAGS.filter(f => f.commands.includes(command)).map(f => {
    const names = `${f.short === undefined ? '    ' : `-${f.short}, `}--${f.long}${f.value === undefined ? '' : ` ${f.value}`}`
    const env = f.env === undefined ? '' : ` [env ${f.env}]`
    return `  ${names.padEnd(28)}${f.description}${env}`
  })
}

/**
 * Help for one command, or the overview when `command` is null. Every flag
 * that has an environment variable shows it, so the two stay discoverable
 * together.
 */
export function helpText (command: CommandName | null): string {
  if (command === null) {
    return [
      'Usage: ws-cluster <command> [options]',
      '',
      'A WebSocket reverse proxy and sticky-session cluster (an nginx replacement for WebSocket backends).',
      '',
      'Commands:',
      ...COMMAND_NAMES.map(name => `  ${name.padEnd(12)}${COMMANDS[name].summary}`),
      `  ${'from-nginx'.padEnd(12)}${FROM_NGINX_SUMMARY} (ws-cluster from-nginx --help)`,
      '',
      'Run "ws-cluster <command> --help" for the options of a command.',
      ''
    ].join('\n')
  }
  const lines = [`Usage: ${COMMANDS[command].usage}`, '', `${COMMANDS[command].summary[0].toUpperCase()}${COMMANDS[command].summary.slice(1)}.`, '', 'Options:', ...flagLines(command)]
  if (command === 'start' || command === 'check') {
    lines.push('', 'Environment (overrides the config file; flags override the environment):')
    for (const f of FLAGS) if (f.env !== undefined) lines.push(`  ${f.env.padEnd(30)}${f.description}${f.commands.includes(command) ? ` (or --${f.long})` : ''}`)
    for (const e of ENV_ONLY) lines.push(`  ${e.name.padEnd(30)}${e.description}`)
  }
  if (command === 'check') lines.push('', 'Exit status: 0 when the configuration is valid, 1 when it is not (every problem is printed), 2 on bad usage.')
  lines.push('')
  return lines.join('\n')
}
