import leven from 'leven'
import { describeValue, durationProblem } from './duration.js'

/** One thing wrong with the options, located by a path such as `routes[1].upstream` (or `WS_CLUSTER_PORT` in the cluster). */
export interface OptionProblem {
  path: string
  message: string
}

/**
 * The checks below collect problems instead of throwing, so that one run
 * reports every mistake (`ws-cluster check` prints them all, as `nginx -t`
 * users expect; the plugin throws them together). The plugin's options and
 * the cluster's config file share these, so a value means the same in both.
 */
export type Problems = OptionProblem[]

export function keyPath (parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`
}

export function indexPath (parent: string, index: number): string {
  return `${parent}[${index}]`
}

export function got (value: unknown, allowed: string): string {
  return `got ${describeValue(value)}; allowed: ${allowed}`
}

/** The closest known key, when it is close enough to be a likely typo. */
export function suggestKey (key: string, known: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : leven(key, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Checks that `value` is a plain object and reports each unknown key (with a
 * "did you mean" hint): a misspelt option silently falling back to its
 * default is the worst kind of config bug.
 */
export function checkObject (
  value: unknown, path: string, known: readonly string[], problems: Problems, shape?: string
): value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    problems.push({ path, message: got(value, shape ?? `an object with keys ${known.join(', ')}`) })
    return false
  }
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue
    const hint = suggestKey(key, known)
    const didYouMean = hint === null ? '' : `did you mean "${hint}"? `
    problems.push({ path: keyPath(path, key), message: `unknown key; ${didYouMean}known keys: ${known.join(', ')}` })
  }
  return true
}

export function checkRecord (value: unknown, path: string, what: string, problems: Problems): value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    problems.push({ path, message: got(value, what) })
    return false
  }
  return true
}

export function checkInteger (
  value: unknown, path: string, min: number, max: number, problems: Problems
): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
  problems.push({ path, message: got(value, `an integer from ${min} to ${max}`) })
  return undefined
}

export function checkBoolean (value: unknown, path: string, problems: Problems): boolean | undefined {
  if (typeof value === 'boolean') return value
  problems.push({ path, message: got(value, 'true or false') })
  return undefined
}

export function checkString (value: unknown, path: string, what: string, problems: Problems): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value
  problems.push({ path, message: got(value, what) })
  return undefined
}

export function checkEnum<T extends string> (
  value: unknown, path: string, allowed: readonly T[], problems: Problems
): T | undefined {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T
  problems.push({ path, message: got(value, allowed.map(a => JSON.stringify(a)).join(', ')) })
  return undefined
}

/** A duration in the one grammar the plugin and the config file share (see duration.ts). */
export function checkDuration (value: unknown, path: string, problems: Problems): number | undefined {
  const result = durationProblem(value)
  if (typeof result === 'number') return result
  problems.push({ path, message: result })
  return undefined
}
