import { runCheck } from './check-command.js'
import { parseCliArgs, UsageError, type CliIo, type CommandName } from './cli-args.js'
import { helpText, versionText } from './cli-help.js'
import { runControlCommand } from './control-client.js'
import { runFromNginx } from '../from-nginx/from-nginx-command.js'
import { startCommand } from './start-command.js'

/**
 * The `ws-cluster` command: `start` runs the primary in the foreground,
 * `check` validates the config, `reload | stop | status` talk to a running
 * cluster, `from-nginx` translates an nginx config. Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */

/** Runs one CLI invocation; resolves with the exit code, or null when the process keeps running (`start`). */
export async function runCli (argv: string[], io: CliIo): Promise<number | null> {
  // from-nginx takes a file and flags of its own, parsed in its room (cluster/from-nginx/).
  if (argv[0] === 'from-nginx' || (argv[0] === 'help' && argv[1] === 'from-nginx')) return await runFromNginx(argv[0] === 'help' ? ['--help'] : argv.slice(1), io)
  let parsed
  try {
    parsed = parseCliArgs(argv)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`ws-cluster: ${err.message}\n\n${helpText(err.command as CommandName | null)}`)
      return 2
    }
    throw err
  }
  const { command, flags, help } = parsed
  if (flags.version === true) {
    io.stdout.write(versionText())
    return 0
  }
  if (help || command === null) {
    const text = helpText(command)
    ;(help ? io.stdout : io.stderr).write(text.endsWith('\n') ? text : `${text}\n`)
    return help ? 0 : 2
  }
  switch (command) {
    case 'check':
      return await runCheck(flags, io)
    case 'start':
      return await startCommand(flags, io)
    default:
      return await runControlCommand(command, flags, io)
  }
}
