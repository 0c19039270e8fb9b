import { InvalidOptionError } from '../errors.js'

/** A duration: milliseconds as a number, or a string with a unit such as `'500ms'`, `'60s'`, `'5m'`, `'1h'`, `'7d'`. */
export type Duration = number | string

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000
}

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/

/** Largest delay Node timers accept; longer values would fire at once. */
const MAX_TIMER_MS = 2_147_483_647

const ALLOWED = 'a non-negative number of milliseconds or a string like "500ms", "60s", "5m", "1h", "7d"'

/**
 * Reads a duration option: milliseconds, or the message of what is wrong
 * with it (`got …; allowed: …`). A string needs its unit: `"30"` means 30 s
 * to an nginx user and 30 ms to a JavaScript one, so it is refused with both
 * readings spelt out rather than guessed. A number is milliseconds.
 */
export function durationProblem (value: unknown): number | string {
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = DURATION_RE.exec(value.trim())
    if (match === null) return `got ${JSON.stringify(value)}; allowed: ${ALLOWED}`
    if (match[2] === undefined) {
      return `got ${JSON.stringify(value)}, a string without a unit; write "${match[1]}s" for ${match[1]} seconds (as nginx reads it) or ` +
        `"${match[1]}ms" (or the number ${match[1]}) for milliseconds; allowed: ${ALLOWED}`
    }
    ms = Number(match[1]) * UNIT_MS[match[2]]
  } else {
    return `got ${describeValue(value)}; allowed: ${ALLOWED}`
  }
  if (!Number.isFinite(ms) || ms < 0) return `got ${describeValue(value)}; allowed: ${ALLOWED}`
  if (ms > MAX_TIMER_MS) return `got ${describeValue(value)}; allowed: ${ALLOWED}, at most ${MAX_TIMER_MS} ms (about 24.8 days)`
  return Math.round(ms)
}

/**
 * Parses a duration option and returns milliseconds. Throws
 * `WS_CLUSTER_INVALID_OPTION` naming `optionPath` when the value is not a
 * duration, is negative, has no unit, or exceeds what a Node timer can wait.
 *
 * @example
 * parseDuration('90s', 'routes[0].idleTimeout') // 90000
 */
export function parseDuration (value: unknown, optionPath: string): number {
  const result = durationProblem(value)
  if (typeof result === 'number') return result
  throw new InvalidOptionError(optionPath, result)
}

/** Renders a bad option value for an error message without dumping large objects. */
export function describeValue (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  try {
    const text = JSON.stringify(value)
    return text.length > 80 ? text.slice(0, 77) + '...' : text
  } catch {
    return String(value)
  }
}
