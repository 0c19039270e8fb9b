import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** What `npm run demo -- [flags]` can change; null means "as the config file says". */
export interface DemoOptions {
  configFile: string
  backends: number | null
  /** Port of the page and `/ws`; 0 picks a free one. */
  port: number | null
  adminPort: number | null
  /** Port of the first backend, the others follow; 0 picks free ones. */
  backendPort: number | null
  workers: number | null
  /** The ws-cluster CLI script to run. */
  cli: string
  redisUrl: string | null
}

export const DEMO_HELP = `Usage: npm run demo -- [options]

Starts the chat backends and ws-cluster in front of them, prints the URL to open.
Ctrl-C stops everything.

Options (environment variable in brackets):
  --config FILE        ws-cluster config to start from        [DEMO_CONFIG]   default demo/ws-cluster.config.json
  --backends N         number of chat backends                [DEMO_BACKENDS] default: the config's servers
  --port N             port of the page and /ws, 0 = free one [DEMO_PORT]     default: the config's listen.port
  --admin-port N       port of /status and /metrics, 0 = free [DEMO_ADMIN_PORT]
  --backend-port N     first backend port, 0 = free ones      [DEMO_BACKEND_PORT]
  --workers N          ws-cluster worker processes            [DEMO_WORKERS]
  --cli FILE           the ws-cluster CLI script              [DEMO_CLUSTER_CLI] default dist/cluster/cli.js
  -h, --help           this text
  REDIS_URL=redis://127.0.0.1:6379  share messages over Redis pub/sub instead of the peer mesh
`

export class DemoUsageError extends Error {}

function integer (flag: string, text: string | undefined, min: number, max: number): number | null {
  if (text === undefined || text === '') return null
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DemoUsageError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`)
  }
  return value
}

/**
 * Reads flags, then the environment for what flags left unset.
 * Returns null when help was asked for.
 *
 * @example
 * parseDemoOptions(['--port', '0', '--backends', '3'], {})
 */
export function parseDemoOptions (argv: string[], env: NodeJS.ProcessEnv): DemoOptions | null {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        backends: { type: 'string' },
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        'backend-port': { type: 'string' },
        workers: { type: 'string' },
        cli: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true
    }))
  } catch (err) {
    throw new DemoUsageError((err as Error).message)
  }
  if (values.help === true) return null
  const defaultConfig = fileURLToPath(new URL('../../demo/ws-cluster.config.json', import.meta.url))
  const defaultCli = fileURLToPath(new URL('../cluster/cli.js', import.meta.url))
  const redisUrl = env.REDIS_URL ?? ''
  return {
    configFile: values.config ?? env.DEMO_CONFIG ?? defaultConfig,
    backends: integer('--backends', values.backends ?? env.DEMO_BACKENDS, 1, 16),
    port: integer('--port', values.port ?? env.DEMO_PORT, 0, 65535),
    adminPort: integer('--admin-port', values['admin-port'] ?? env.DEMO_ADMIN_PORT, 0, 65535),
    backendPort: integer('--backend-port', values['backend-port'] ?? env.DEMO_BACKEND_PORT, 0, 65535),
    workers: integer('--workers', values.workers ?? env.DEMO_WORKERS, 1, 64),
    cli: values.cli ?? env.DEMO_CLUSTER_CLI ?? defaultCli,
    redisUrl: redisUrl === '' ? null : redisUrl
  }
}
