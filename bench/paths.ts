import { execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NodeProxyKind } from './node-proxies.js'
import { clusterConfig, haproxyConfig, nginxConfig } from './peer-configs.js'
import { forkWithPort, freePort, spawnUntilUpgrade, stopProcess } from './process-control.js'

/**
 * Every path of the protocol: how to tell whether it can run here, and how to
 * start a fresh instance of it in front of a given echo backend.
 */

export interface RunningPath {
  port: number
  /** Root of the proxy's process tree, 0 for `direct`. */
  pid: number
  stop: () => Promise<void>
}

export interface StartOptions {
  /** Connections the path must hold at once (sizes nginx/HAProxy limits). */
  maxConnections: number
  /** Extra node flags for Node proxies (the profiler). */
  execArgv?: string[]
}

export interface PathDefinition {
  id: string
  describe: string
  /** Why the path cannot run here, or null when it can. */
  skipReason: () => string | null
  /**
   * Why the path cannot move a client to another backend when one dies (W7's kill
   * phase), or null when it balances over every backend it is given.
   */
  oneUpstream: string | null
  /** Starts the path in front of `backendPorts` (W7 gives two, every other workload one). */
  start: (backendPorts: readonly number[], options: StartOptions) => Promise<RunningPath>
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url))

function onPath (command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function nodePath (id: NodeProxyKind, describe: string, needs?: string): PathDefinition {
  return {
    id,
    describe,
    skipReason: () => (needs !== undefined && !existsSync(here(needs)) ? `${needs} is not built yet` : null),
    oneUpstream: id === 'fastify-http-proxy' ? 'not applicable (one upstream)' : null,
    start: async (backendPorts, options) => {
      const { child, port } = await forkWithPort(here('./node-proxies.js'), [id, backendPorts.join(',')], options.execArgv ?? [])
      return { port, pid: child.pid ?? 0, stop: () => stopProcess(child) }
    }
  }
}

/** Runs a peer from a temporary directory that is removed when it stops. */
async function startInTempDir (
  prefix: string,
  launch: (dir: string, port: number) => Promise<ChildProcess>,
  signal: NodeJS.Signals = 'SIGTERM'
): Promise<RunningPath> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  try {
    const port = await freePort()
    const child = await launch(dir, port)
    return {
      port,
      pid: child.pid ?? 0,
      stop: async () => {
        await stopProcess(child, signal, 10_000)
        rmSync(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

function clusterPath (id: string, workers: number | 'auto'): PathDefinition {
  const cli = here('../cluster/cli.js')
  return {
    id,
    describe: `ws-cluster start --workers ${workers} (primary hands connections to workers)`,
    skipReason: () => (existsSync(cli) ? null : 'dist/cluster/cli.js is not built yet'),
    oneUpstream: null,
    start: (backendPorts, options) => startInTempDir('wsc-bench-cluster-', async (dir, port) => {
      const file = join(dir, 'ws-cluster.config.json')
      writeFileSync(file, clusterConfig(port, backendPorts, workers))
      // Workers are forked with the primary's execArgv, so a profiler flag reaches every process of the tree.
      return await spawnUntilUpgrade(process.execPath, [...(options.execArgv ?? []), cli, 'start', '--config', file, '--workers', String(workers)], port)
    })
  }
}

export const PATHS: PathDefinition[] = [
  {
    id: 'direct',
    describe: 'client → echo backend, no proxy',
    skipReason: () => null,
    oneUpstream: 'not applicable (no proxy)',
    // With no proxy in between there is nothing to balance: the client talks to the first backend.
    start: async (backendPorts) => ({ port: backendPorts[0], pid: 0, stop: async () => {} })
  },
  nodePath('netpipe', 'bare Node net pipe (c.pipe(u); u.pipe(c))'),
  nodePath('wsc-plugin', 'Fastify + ws-cluster plugin, tunnel mode, one process', '../plugin/index.js'),
  nodePath('wsc-plugin-untracked', 'wsc-plugin without frame-boundary tracking (what the tracking costs)', '../plugin/index.js'),
  nodePath('wsc-relay', 'Fastify + ws-cluster plugin, relay mode (whole messages through ws), no hook', '../plugin/index.js'),
  nodePath('wsc-relay-inline', 'relay mode with a no-op message hook given as a function', '../plugin/index.js'),
  nodePath('wsc-relay-pool', 'relay mode with the same no-op hook as a module in the piscina pool', '../plugin/index.js'),
  clusterPath('wsc-cluster-1', 1),
  clusterPath('wsc-cluster-auto', 'auto'),
  nodePath('fastify-http-proxy', '@fastify/http-proxy with websocket: true'),
  nodePath('http-proxy', 'http-proxy with ws: true'),
  {
    id: 'nginx',
    describe: 'nginx, classic WebSocket config, worker_processes 1, access_log off',
    skipReason: () => (onPath('nginx') ? null : 'nginx is not on PATH (apt-get install nginx)'),
    oneUpstream: null,
    start: (backendPorts, options) => startInTempDir('wsc-bench-nginx-', async (dir, port) => {
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, backendPorts, options.maxConnections))
      return await spawnUntilUpgrade('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], port)
    })
  },
  {
    id: 'haproxy',
    describe: 'HAProxy, mode http, timeout tunnel, nbthread 1',
    skipReason: () => (onPath('haproxy') ? null : 'haproxy is not on PATH (apt-get install haproxy)'),
    oneUpstream: null,
    start: (backendPorts, options) => startInTempDir('wsc-bench-haproxy-', async (dir, port) => {
      writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(port, backendPorts, options.maxConnections))
      return await spawnUntilUpgrade('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], port)
    })
  }
]

/** Starts a fresh echo backend process. */
export async function startBackend (): Promise<{ port: number, pid: number, stop: () => Promise<void> }> {
  const { child, port } = await forkWithPort(here('./echo-backend.js'), [])
  return { port, pid: child.pid ?? 0, stop: () => stopProcess(child) }
}
