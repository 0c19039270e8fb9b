import type { ClusterConfigInput } from './config/config-types.js'

export type { ClusterConfigInput }

/**
 * Returns `config` unchanged. Its only job is typing: in a
 * `ws-cluster.config.mjs` (or .ts compiled to .js) the editor can check and
 * complete every option. Validation happens when the file is loaded
 * (`ws-cluster check` / `start`), so a plain object export works the same.
 *
 * @example
 * // ws-cluster.config.mjs
 * import { defineConfig } from 'ws-cluster/config'
 *
 * export default defineConfig({
 *   upstreams: {
 *     chat: { balance: 'least-conn', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] }
 *   },
 *   routes: [{ path: '/ws', upstream: 'chat', idleTimeout: '1h' }],
 *   listen: { port: 8080 },
 *   workers: 'auto'
 * })
 */
export function defineConfig (config: ClusterConfigInput): ClusterConfigInput {
  return config
}
