import { parseArgs } from 'node:util'
import { suggestKey } from '../../plugin/internal.js'
import { ENV } from '../config/config-env.js'
import { DEFAULTS, WORKERS_ALLOWED } from '../config/config-validate.js'
import { UsageError } from '../cluster-errors.js'

import type { CliFlags } from '../config/config-types.js'

export type { CliFlags }
export { UsageError }

/** Where a CLI invocation reads and writes: the process's own, or a test's. */
export interface CliIo {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export type CommandName = 'start' | 'check' | 'reload' | 'stop' | 'status'

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
  { long: 'help', short: 'h', key: 'help', commands: ALL, description: 'show this help' },
  { long: 'version', short: 'v', key: 'version', commands: ALL, description: 'print the version of ws-cluster' }
]

export const COMMANDS: Record<CommandName, { summary: string, usage: string }> = {
  start: { summary: 'start the primary and its workers (foreground)', usage: 'ws-cluster start [--config FILE] [--port PORT] [--host HOST] [--workers N|auto] [--pretty-logs]' },
  check: { summary: 'validate the config file and exit (like nginx -t)', usage: 'ws-cluster check [--config FILE]' },
  reload: { summary: 'apply the config in place, or replace workers whose app, TLS on/off or log format changed; open tunnels are kept (like nginx -s reload)', usage: 'ws-cluster reload [--config FILE]' },
  stop: { summary: 'stop accepting, drain open connections, exit (like nginx -s quit)', usage: 'ws-cluster stop [--config FILE]' },
  status: { summary: 'show workers, connections and upstream health', usage: 'ws-cluster status [--config FILE] [--json]' }
}

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[]

function specFor (name: string): FlagSpec | undefined {
  return FLAGS.find(f => f.long === name || f.short === name)
}

function parsePort (text: string, flag: string, command: CommandName | null): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${flag}: got ${JSON.stringify(text)}; allowed: an integer from 0 to 65535`, command)
  return port
}

function parseWorkers (text: string, flag: string, command: CommandName | null): 'auto' | number {
  if (text === 'auto') return 'auto'
  const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN
  if (!(n >= 1 && n <= DEFAULTS.workersMax)) throw new UsageError(`${flag}: got ${JSON.stringify(text)}; allowed: ${WORKERS_ALLOWED}`, command)
  return n
}

function setFlag (flags: CliFlags, spec: FlagSpec, value: string | undefined, command: CommandName | null): void {
  const flag = `--${spec.long}`
  if (spec.value === undefined) {
    if (value !== undefined) throw new UsageError(`${flag} takes no value (got ${JSON.stringify(value)})`, command)
    ;(flags as Record<string, unknown>)[spec.key] = true
    return
  }
  if (value === undefined || value === '') throw new UsageError(`${flag} needs a value: ${flag} ${spec.value}`, command)
  if (spec.key === 'port') flags.port = parsePort(value, flag, command)
  else if (spec.key === 'workers') flags.workers = parseWorkers(value, flag, command)
  else (flags as Record<string, unknown>)[spec.key] = value
}

function unknownCommand (name: string): UsageError {
  const hint = suggestKey(name, COMMAND_NAMES)
  return new UsageError(`unknown command "${name}"${hint === null ? '' : `; did you mean "${hint}"?`} commands: ${COMMAND_NAMES.join(', ')}`)
}

function isCommand (word: string): word is CommandName {
  return (COMMAND_NAMES as string[]).includes(word)
}

/**
 * Parses `ws-cluster <command> [flags]` (argv without node and the script).
 * Flags may come before or after the command; `ws-cluster help start` equals
 * `ws-cluster start --help`. Throws {@link UsageError} naming the bad
 * argument and what is allowed, and the command whose help to show with it.
 *
 * @example
 * const { command, flags, help } = parseCliArgs(process.argv.slice(2))
 * // ['start', '--port', '9000'] → { command: 'start', flags: { port: 9000 }, help: false }
 */
export function parseCliArgs (argv: string[]): { command: CommandName | null, flags: CliFlags, help: boolean } {
  const options = Object.fromEntries(FLAGS.map(f => [f.long, { type: f.value === undefined ? 'boolean' as const : 'string' as const, ...(f.short === undefined ? {} : { short: f.short }) }]))
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true })
  // The command is known before any flag is judged, so a mistake in a flag comes with that command's help.
  const named = tokens.find(t => t.kind === 'positional' && isCommand(t.value))
  const hint = named?.kind === 'positional' && isCommand(named.value) ? named.value : null
  const flags: CliFlags = {}
  const given: FlagSpec[] = []
  let command: CommandName | null = null
  let helpCommand = false
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') {
      if (command === null && !helpCommand && token.value === 'help') helpCommand = true
      else if (command === null && isCommand(token.value)) command = token.value
      else if (command === null) throw unknownCommand(token.value)
      else throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}; usage: ${COMMANDS[command].usage}`, command)
      continue
    }
    const spec = specFor(token.name)
    if (spec === undefined) {
      const suggestion = suggestKey(token.name, FLAGS.map(f => f.long))
      throw new UsageError(`unknown option ${token.rawName}${suggestion === null ? '' : `; did you mean --${suggestion}?`}`, hint)
    }
    const value = token.value !== undefined && !token.inlineValue && token.value.startsWith('-') ? undefined : token.value
    setFlag(flags, spec, value, hint)
    given.push(spec)
  }
  if (command !== null) {
    for (const spec of given) {
      if (!spec.commands.includes(command)) throw new UsageError(`--${spec.long} is not an option of "${command}"; usage: ${COMMANDS[command].usage}`, command)
    }
  }
  const help = helpCommand || flags.help === true
  if (help) flags.help = true
  return { command, flags, help }
}

/** The flags of one command, as help lines. */
export function flagLines (command: CommandName): string[] {
  return FLAGS.filter(f => f.commands.includes(command)).map(f => {
    const names = `${f.short === undefined ? '    ' : `-${f.short}, `}--${f.long}${f.value === undefined ? '' : ` ${f.value}`}`
    const env = f.env === undefined ? '' : ` [env ${f.env}]`
    return `  ${names.padEnd(28)}${f.description}${env}`
  })
}

/** The flag a variable stands for, if it has one. */
export function flagOfEnv (name: string): string | null {
  const spec = FLAGS.find(f => f.env === name)
  return spec === undefined ? null : `--${spec.long}`
}
