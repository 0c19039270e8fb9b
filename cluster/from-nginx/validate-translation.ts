import { validateConfig, type ConfigProblem } from '../config/config-validate.js'
import { PENDING_ROUTE_OPTIONS, type TranslatedConfig } from './target-config.js'

/*
 * The translation is checked by the very validator `ws-cluster check`
 * runs. The route options `headers` and `upstreamPath` are emitted before
 * ws-cluster supports them; while the validator calls them unknown keys,
 * they are taken out of the copy that is validated (and the user is told).
 * Once ws-cluster knows them, nothing is taken out and their values are
 * validated like everything else, with no change here.
 */

export interface TranslationValidation {
  /** What `ws-cluster check` would report (for the config minus the pending options). */
  problems: ConfigProblem[]
  /** Paths such as `routes[0].headers` that were left out because the validator does not know them yet. */
  pending: string[]
}

const PENDING_PATH_RE = new RegExp(`^routes\\[(\\d+)\\]\\.(${PENDING_ROUTE_OPTIONS.join('|')})$`)

/** Both validators (the file's and the plugin's) say "known keys" when they refuse an unknown key. */
function isPendingOption (problem: ConfigProblem): boolean {
  return PENDING_PATH_RE.test(problem.path) && problem.message.includes('known keys')
}

function withoutOptions (config: TranslatedConfig, paths: readonly string[]): TranslatedConfig {
  const routes = config.routes.map((route, i) => {
    const copy: Record<string, unknown> = { ...route }
    for (const path of paths) {
      const match = PENDING_PATH_RE.exec(path)
      if (match !== null && Number(match[1]) === i) delete copy[match[2]]
    }
    return copy as unknown as TranslatedConfig['routes'][number]
  })
  return { ...config, routes }
}

/**
 * Validates a translated config as `ws-cluster check` would if it were
 * saved as `file` (relative certificate paths resolve from its folder).
 *
 * @example
 * const { problems, pending } = validateTranslation(config, '/srv/app/ws-cluster.config.json')
 */
export function validateTranslation (config: TranslatedConfig, file: string): TranslationValidation {
  // A JSON round trip: the validator sees exactly what the written file will hold.
  const copy = JSON.parse(JSON.stringify(config)) as TranslatedConfig
  const pending: string[] = []
  // The plugin's validator stops at its first problem, so each round may find one more pending option.
  for (;;) {
    const result = validateConfig(withoutOptions(copy, pending), file)
    const found = result.problems.filter(isPendingOption).map(p => p.path).filter(p => !pending.includes(p))
    if (found.length === 0) return { problems: result.problems, pending }
    pending.push(...found)
  }
}

/** The stderr note for options left out of the validation. */
export function pendingOptionsNote (pending: readonly string[]): string {
  return `${pending.join(', ')}: these route options need ws-cluster's "headers"/"upstreamPath" support, which this version does not have yet. ` +
    'They are written as translated but left out of the validation, and "ws-cluster check" and "ws-cluster start" will refuse this config until that support lands.'
}
