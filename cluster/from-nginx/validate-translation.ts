import { validateConfig, type ConfigProblem } from '../config/config-validate.js'
import type { ClusterConfigInput } from '../config/config-types.js'

/*
 * The translation is checked by the very validator `ws-cluster check`
 * runs, route `headers` and `upstreamPath` included, so a config that
 * from-nginx writes is one that `ws-cluster start` accepts.
 */

/**
 * Validates a translated config as `ws-cluster check` would if it were
 * saved as `file` (relative certificate paths resolve from its folder):
 * what `check` would report, no problem when it passes.
 *
 * @example
 * const { problems } = validateTranslation(config, '/srv/app/ws-cluster.config.json')
 */
export function validateTranslation (config: ClusterConfigInput, file: string): { problems: ConfigProblem[] } {
  // A JSON round trip: the validator sees exactly what the written file will hold.
  const copy = JSON.parse(JSON.stringify(config)) as unknown
  return { problems: validateConfig(copy, file).problems }
}
