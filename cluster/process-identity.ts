import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

/**
 * Whether `pid` runs `ws-cluster start` (R63): a pid file may outlive its
 * primary, and its pid may since belong to any other process, which `stop`
 * must never signal and which must not keep `start` from running. Reads the
 * command line from /proc (Linux) or `ps`; `unknown` when neither answers.
 *
 * @example
 * if (await isClusterPrimary(pid) === 'no') console.error(`pid ${pid} is not a ws-cluster primary`)
 */
export function isClusterPrimary (pid: number): 'yes' | 'no' | 'unknown' {
  const args = commandLine(pid)
  if (args === null) return 'unknown'
  const runsCli = args.some((arg) => arg.endsWith('cluster/cli.js') || basename(arg) === 'ws-cluster')
  return runsCli && args.includes('start') ? 'yes' : 'no'
}

function commandLine (pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '')
  } catch (err) {
    // The process is gone: it is no primary.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return []
  }
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim().split(/\s+/)
  } catch {
    return null
  }
}
