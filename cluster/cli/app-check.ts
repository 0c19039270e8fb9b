import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ConfigProblem } from '../config/config-validate.js'

/** Longest `check` waits for the app module to import; a module that takes longer would also stall every worker start. */
export const APP_IMPORT_TIMEOUT_MS = 10_000

const PROBE = fileURLToPath(new URL('./app-probe.js', import.meta.url))

/**
 * Imports the config's `app` module in a child process, as a worker would,
 * and returns the problem when it cannot be loaded: it throws, has no
 * function as its default export, or does not finish importing within
 * `timeoutMs` (the child is killed then). Null when it loads (R62).
 *
 * @example
 * const problem = await checkAppImport('/srv/app/auth.mjs')
 * if (problem !== null) console.error(`${problem.path}: ${problem.message}`)
 */
export async function checkAppImport (file: string, timeoutMs = APP_IMPORT_TIMEOUT_MS): Promise<ConfigProblem | null> {
  const child = spawn(process.execPath, [...process.execArgv, PROBE, file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { if (stderr.length < 4096) stderr += chunk })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null))
    child.once('close', (exitCode) => resolve(exitCode))
  })
  clearTimeout(timer)
  if (timedOut) return { path: 'app', message: `importing "${file}" did not finish within ${timeoutMs / 1000} s (a top-level await or loop that never ends?); workers would hang the same way at start` }
  // The module may print at import: the probe's own report is the last line.
  const reported = stdout.trim().split('\n').at(-1) ?? ''
  if (code === 0 && reported === 'ok') return null
  let reason: string
  try {
    reason = JSON.parse(reported) as string
  } catch {
    reason = stderr.trim().split('\n').slice(0, 3).join(' ') || `the import exited with code ${String(code)}`
  }
  return { path: 'app', message: `cannot load "${file}": ${reason}` }
}
