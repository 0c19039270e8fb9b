import { isDeepStrictEqual } from 'node:util'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseDuration } from '../plugin/index.js'
import { DemoUsageError, type DemoOptions } from './demo-options.js'
import { freePorts } from './free-ports.js'

export interface BackendPlan {
  name: string
  host: string
  port: number
  url: string
}

/** Everything the runner starts, with the ports settled. */
export interface DemoPlan {
  /** The config ws-cluster runs: the user's file itself, or a derived copy when flags changed it. */
  configPath: string
  /** Holds the derived copy; removed on exit. */
  tempDir: string | null
  listen: { host: string, port: number }
  admin: { host: string, port: number } | null
  backends: BackendPlan[]
  shutdownTimeoutMs: number
}

type Json = Record<string, unknown>

function section (config: Json, key: string): Json {
  const value = config[key]
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {}
}

/** The upstream group behind the first route: the chat backends. */
function chatUpstream (config: Json, file: string): { name: string, servers: unknown[] } {
  const routes = Array.isArray(config.routes) ? config.routes as Json[] : []
  const name = routes[0]?.upstream
  const group = typeof name === 'string' ? section(section(config, 'upstreams'), name) : {}
  if (typeof name !== 'string' || !Array.isArray(group.servers)) {
    throw new DemoUsageError(`${file}: routes[0].upstream must name an upstream group with servers (the chat backends)`)
  }
  return { name, servers: group.servers }
}

function serverUrl (server: unknown): URL {
  const text = typeof server === 'string' ? server : (server as Json | null)?.url
  if (typeof text !== 'string' || !URL.canParse(text)) throw new DemoUsageError(`upstream server ${JSON.stringify(server)} has no valid url`)
  return new URL(text)
}

/**
 * Settles ports and backends from the config file and the options. When the
 * result differs from the file (other ports, more backends), a copy is
 * written to a temp folder with `app` made absolute; otherwise ws-cluster
 * runs the user's file untouched, which is the point of the demo.
 *
 * @example
 * const plan = await planDemo(parseDemoOptions(['--port', '0'], {})!)
 */
export async function planDemo (options: DemoOptions): Promise<DemoPlan> {
  const file = resolve(options.configFile)
  let base: Json
  try {
    base = JSON.parse(await readFile(file, 'utf8')) as Json
  } catch (err) {
    throw new DemoUsageError(`cannot read the demo config ${file}: ${(err as Error).message}`)
  }
  const config = structuredClone(base)
  const upstream = chatUpstream(config, file)
  const listen = section(config, 'listen')
  const host = typeof listen.host === 'string' ? listen.host : '127.0.0.1'
  const count = options.backends ?? upstream.servers.length
  const firstUrl = serverUrl(upstream.servers[0])
  const backendHost = firstUrl.hostname

  let backendPorts: number[]
  if (options.backendPort === 0) {
    backendPorts = await freePorts(count, backendHost)
  } else if (options.backendPort !== null) {
    backendPorts = Array.from({ length: count }, (_, i) => (options.backendPort as number) + i)
  } else {
    const known = upstream.servers.map((s) => Number(serverUrl(s).port))
    backendPorts = Array.from({ length: count }, (_, i) => known[i] ?? (known[known.length - 1] as number) + i - known.length + 1)
  }
  const backends = backendPorts.map((port, i) => ({
    name: `backend-${i + 1}`, host: backendHost, port, url: `http://${backendHost}:${port}`
  }))
  const template = upstream.servers[0]
  section(section(config, 'upstreams'), upstream.name).servers = backends.map((b, i) => {
    const original = upstream.servers[i] ?? template
    return typeof original === 'string' ? b.url : { ...(original as Json), url: b.url }
  })

  const wanted = [options.port ?? (listen.port as number | undefined) ?? 8080]
  const adminSection = config.admin === false ? null : section(config, 'admin')
  if (adminSection !== null) wanted.push(options.adminPort ?? (adminSection.port as number | undefined) ?? 9090)
  const free = await freePorts(wanted.filter((p) => p === 0).length, host)
  const settled = wanted.map((p) => p === 0 ? free.shift() as number : p)
  config.listen = { ...listen, host, port: settled[0] }
  let admin: DemoPlan['admin'] = null
  if (adminSection !== null) {
    const adminHost = typeof adminSection.host === 'string' ? adminSection.host : '127.0.0.1'
    admin = { host: adminHost, port: settled[1] as number }
    config.admin = { ...adminSection, host: adminHost, port: admin.port }
  }
  if (options.workers !== null) config.workers = options.workers

  const shutdownTimeoutMs = config.shutdownTimeout === undefined ? 10_000 : parseDuration(config.shutdownTimeout, 'shutdownTimeout')
  const plan = { configPath: file, tempDir: null, listen: { host, port: settled[0] as number }, admin, backends, shutdownTimeoutMs }
  if (isDeepStrictEqual(config, base)) return plan

  if (typeof config.app === 'string') config.app = resolve(dirname(file), config.app)
  const tempDir = await mkdtemp(join(tmpdir(), 'ws-cluster-demo-'))
  const configPath = join(tempDir, 'ws-cluster.config.json')
  await writeFile(configPath, JSON.stringify(config, null, 2) + '\n')
  return { ...plan, configPath, tempDir }
}
