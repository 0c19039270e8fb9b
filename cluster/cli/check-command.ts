import type { CliFlags } from './cli-args.js'
import { helpText } from './cli-help.js'
import { ConfigError, FILE_PROBLEM_PATH, loadConfig } from '../config/config-load.js'

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
 * file, `WS_CLUSTER_*` environment, flags — and prints either
 * `configuration file <path> is valid` (exit code 0) or every problem, one
 * per line, as `<file>: <path>: <message>` (exit code 1). Errors other than
 * configuration problems are not caught.
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
