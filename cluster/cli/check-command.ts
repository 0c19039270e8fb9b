import { helpText, type CliFlags } from './cli-args.js'
import { ConfigError, FILE_PROBLEM_PATH, loadConfig } from '../config/config-load.js'
import type { ClusterConfig } from '../config/config-types.js'
import { checkUpstreamNames, hookModuleProblem, type OptionProblem } from '../../plugin/internal.js'
import { checkAppImport } from './app-check.js'

export interface CheckIo {
  cwd: string
  env: NodeJS.ProcessEnv
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** `<file>: <path>: <message>`, the shape editors and CI logs already know from compilers and linters. */
function problemLine (file: string | null, path: string, message: string): string {
  const where = file ?? '(no config file)'
  return path === FILE_PROBLEM_PATH || path === '' ? `${where}: ${message}` : `${where}: ${path}: ${message}`
}

/**
 * Relay hooks must not only exist but load and export a hook: `check` imports
 * each one (as the workers' hook pools will), so a syntax error or a missing
 * export fails here rather than at the first worker start.
 */
async function hookProblems (config: ClusterConfig): Promise<OptionProblem[]> {
  const problems: OptionProblem[] = []
  for (const [i, route] of config.routes.entries()) {
    const hook = route.relay?.onMessage
    if (typeof hook !== 'string') continue
    const problem = await hookModuleProblem(hook)
    if (problem !== null) problems.push({ path: `routes[${i}].relay.onMessage`, message: `${problem} ("${hook}")` })
  }
  return problems
}

/**
 * `ws-cluster check` (nginx -t): loads the config exactly as `start` would —
 * file, `WS_CLUSTER_*` environment, flags, the TLS certificate and key, the
 * `app` module (imported in a child process, bounded in time) and the relay
 * hook modules it names — and prints either
 * `configuration file <path> is valid` (exit code 0) or every problem, one
 * per line, as `<file>: <path>: <message>` (exit code 1). Upstream host names
 * that do not resolve now are warned about on stderr (still exit code 0).
 * Errors other than configuration problems are not caught.
 *
 * @example
 * const code = await runCheck({ config: 'ws-cluster.config.json' }, { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr })
 * process.exitCode = code
 */
export async function runCheck (flags: CliFlags, io: CheckIo): Promise<number> {
  if (flags.help === true) {
    io.stdout.write(helpText('check'))
    return 0
  }
  try {
    const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
    const appProblem = config.app === null ? null : await checkAppImport(config.app)
    const problems = [...(appProblem === null ? [] : [appProblem]), ...await hookProblems(config)]
    if (problems.length > 0) throw new ConfigError(config.file, problems)
    // R49: a host name that does not resolve here and now is a warning, not an error.
    const warnings = await checkUpstreamNames(config.upstreams)
    if (warnings.length > 0) io.stderr.write(warnings.map(w => `${config.file ?? '(no config file)'}: warning: ${w.path}: ${w.message}\n`).join(''))
    io.stdout.write(`configuration file ${config.file ?? '(none)'} is valid\n`)
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    if (err.file === null) {
      io.stderr.write(`${err.message}\n`)
      return 1
    }
    const lines = err.problems.map(p => problemLine(err.file, p.path, p.message))
    const count = err.problems.length
    lines.push(`configuration file ${err.file} is invalid: ${count} problem${count === 1 ? '' : 's'}`)
    io.stderr.write(lines.join('\n') + '\n')
    return 1
  }
}
