import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'

/**
 * The facts a reader needs to judge a result file: the box, the Node and peer
 * versions, the file limit (it decides the W3 connection count) and the date.
 */

export interface MachineInfo {
  date: string
  cores: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  fileLimit: number
  /** The commit the measured code was built from (BENCH_COMMIT when run from an exported snapshot). */
  commit: string
  versions: Record<string, string>
}

function commitOf (): string {
  if (process.env.BENCH_COMMIT !== undefined && process.env.BENCH_COMMIT !== '') return process.env.BENCH_COMMIT
  try {
    const dir = new URL('../..', import.meta.url).pathname
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return dirty === '' ? head : `${head} + uncommitted changes`
  } catch {
    return 'unknown'
  }
}

function peerVersion (command: string, args: string[]): string {
  try {
    // nginx prints its version on stderr, HAProxy on stdout.
    const result = execFileSync('sh', ['-c', `${command} ${args.join(' ')} 2>&1`], { encoding: 'utf8' })
    return result.split('\n', 1)[0].trim()
  } catch {
    return 'not found'
  }
}

function packageVersion (name: string): string {
  try {
    const require = createRequire(import.meta.url)
    const file = require.resolve(`${name}/package.json`)
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

/** The soft limit on open files, as a shell would report it for the proxies we spawn. */
export function fileLimit (): number {
  try {
    const value = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
    return value === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(value)
  } catch {
    return 1024
  }
}

export function machineInfo (): MachineInfo {
  const cpus = os.cpus()
  return {
    date: new Date().toISOString(),
    cores: os.availableParallelism(),
    cpuModel: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    fileLimit: fileLimit(),
    commit: commitOf(),
    versions: {
      ws: packageVersion('ws'),
      fastify: packageVersion('fastify'),
      '@fastify/http-proxy': packageVersion('@fastify/http-proxy'),
      'http-proxy': packageVersion('http-proxy'),
      nginx: peerVersion('nginx', ['-v']),
      haproxy: peerVersion('haproxy', ['-v'])
    }
  }
}
