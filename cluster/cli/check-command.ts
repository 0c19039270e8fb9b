import { helpText, type CliFlags } from './cli-args.js'
import { ConfigError, FILE_PROBLEM_PATH, loadConfig } from '../config/config-load.js'
import { checkUpstreamNames } from '../../plugin/internal.js'
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
 * `ws-cluster check` (nginx -t): loads the config exactly as `start` would —
 * file, `WS_CLUSTER_*` environment, flags, the TLS certificate and key, and
 * the `app` module (imported in a child process, bounded in time) — and
 * prints either
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
    if (appProblem !== null) throw new ConfigError(config.file, [appProblem])
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
