import { InvalidOptionError } from './errors.js'

/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'60s'`, `'5m'`, `'1h'`, `'7d'`. */
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
export const MAX_TIMER_MS = 2_147_483_647

const ALLOWED = 'a non-negative number of milliseconds or a string like "500ms", "60s", "5m", "1h", "7d"'

/**
 * Parses a duration option and returns milliseconds. Throws
 * `WS_CLUSTER_INVALID_OPTION` naming `optionPath` when the value is not a
 * duration, is negative, or exceeds what a Node timer can wait.
 */
export function parseDuration (value: unknown, optionPath: string): number {
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = DURATION_RE.exec(value.trim())
    if (match === null) throw new InvalidOptionError(optionPath, JSON.stringify(value), ALLOWED)
    ms = Number(match[1]) * UNIT_MS[match[2] ?? 'ms']
  } else {
    throw new InvalidOptionError(optionPath, describeValue(value), ALLOWED)
  }
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidOptionError(optionPath, describeValue(value), ALLOWED)
  if (ms > MAX_TIMER_MS) {
    throw new InvalidOptionError(optionPath, describeValue(value), `${ALLOWED}, at most ${MAX_TIMER_MS} ms (about 24.8 days)`)
  }
  return Math.round(ms)
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
