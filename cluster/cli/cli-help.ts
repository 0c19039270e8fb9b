import { readFileSync } from 'node:fs'
import { COMMAND_NAMES, COMMANDS, flagLines, flagOfEnv, type CommandName } from './cli-args.js'
import { ENV } from '../config/config-env.js'
import { DEFAULTS } from '../config/config-validate.js'
import { FROM_NGINX_SUMMARY } from '../from-nginx/from-nginx-args.js'

type EnvName = typeof ENV[keyof typeof ENV]

const CONFIG_READERS: readonly CommandName[] = ['start', 'check']
const RUN_DIR_USERS: readonly CommandName[] = ['start', 'reload', 'stop', 'status']

/**
 * Every variable of {@link ENV}, what it means and which commands read it:
 * the config overrides are read by whatever loads the config (`start`,
 * `check`); the config file's name and the run folder also by the commands
 * that find a running cluster through them.
 */
export const ENV_HELP: ReadonlyArray<{ name: EnvName, description: string, commands: readonly CommandName[] }> = [
  { name: ENV.config, description: 'config file', commands: COMMAND_NAMES },
  { name: ENV.port, description: `port to accept clients on (default ${DEFAULTS.port})`, commands: CONFIG_READERS },
  { name: ENV.host, description: `address to bind (default ${DEFAULTS.host})`, commands: CONFIG_READERS },
  { name: ENV.workers, description: 'worker processes: auto or a count', commands: CONFIG_READERS },
  { name: ENV.prettyLogs, description: 'human-readable logs: 1/true/yes/on or 0/false/no/off', commands: CONFIG_READERS },
  { name: ENV.logLevel, description: 'log level: fatal, error, warn, info, debug, trace, silent (default info)', commands: CONFIG_READERS },
  { name: ENV.adminPort, description: `admin listener port, or "off" (default ${DEFAULTS.adminPort} on ${DEFAULTS.adminHost})`, commands: CONFIG_READERS },
  { name: ENV.shutdownTimeout, description: `how long open connections get on stop (default ${DEFAULTS.shutdownTimeout}); a reload keeps them (drainTimeout bounds workers it replaces)`, commands: CONFIG_READERS },
  { name: ENV.runDir, description: 'folder of the pid file and control socket (default .ws-cluster/ beside the config file)', commands: RUN_DIR_USERS }
]

/** The version in the package's package.json (three folders up from dist/cluster/cli/, as in the published package). */
export function versionText (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return `${pkg.version}\n`
}

function environmentLines (command: CommandName): string[] {
  const lines = ['', command === 'start' || command === 'check'
    ? 'Environment (overrides the config file; flags override the environment; empty counts as unset):'
    : 'Environment (empty counts as unset):']
  for (const variable of ENV_HELP.filter(v => v.commands.includes(command))) {
    const flag = flagOfEnv(variable.name)
    lines.push(`  ${variable.name.padEnd(30)}${variable.description}${flag === null ? '' : ` (or ${flag})`}`)
  }
  return lines
}

/**
 * Help for one command, or the overview when `command` is null. Each lists
 * the environment variables it reads, and every flag that has a variable
 * names it, so the two stay discoverable together.
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
      'Options:',
      `  ${'-h, --help'.padEnd(28)}show this help`,
      `  ${'-v, --version'.padEnd(28)}print the version of ws-cluster`,
      '',
      'Environment (each command\'s --help says which it reads):',
      ...ENV_HELP.map(v => `  ${v.name.padEnd(30)}${v.description}`),
      '',
      'Run "ws-cluster <command> --help" for the options of a command.',
      ''
    ].join('\n')
  }
  const summary = COMMANDS[command].summary
  const lines = [`Usage: ${COMMANDS[command].usage}`, '', `${summary[0].toUpperCase()}${summary.slice(1)}.`, '', 'Options:', ...flagLines(command)]
  lines.push(...environmentLines(command))
  if (command === 'check') lines.push('', 'Exit status: 0 when the configuration is valid, 1 when it is not (every problem is printed), 2 on bad usage.')
  else lines.push('', 'Exit status: 0 on success, 1 on failure, 2 on bad usage.')
  lines.push('')
  return lines.join('\n')
}
