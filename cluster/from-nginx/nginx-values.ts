/**
 * nginx's value grammars that the translation needs: time intervals
 * (`60`, `420s`, `1h 30m`, `7d`), plain counts, and the variables inside a
 * value (`$host:$server_port`, `${http_x_id}`).
 */

const TIME_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  M: 30 * 86_400_000,
  y: 365 * 86_400_000
}

const TIME_PART_RE = /(\d+)(ms|s|m|h|d|w|M|y)?/y

/**
 * Milliseconds of an nginx time interval, or null when it is not one. A
 * number without a unit means seconds, as in nginx; several parts add up
 * (`1h 30m`), each unit at most once.
 *
 * @example
 * parseNginxTime('420s') // 420000
 * parseNginxTime('600')  // 600000
 */
export function parseNginxTime (text: string): number | null {
  const compact = text.replace(/\s+/g, '')
  if (compact === '') return null
  let total = 0
  const seen = new Set<string>()
  TIME_PART_RE.lastIndex = 0
  while (TIME_PART_RE.lastIndex < compact.length) {
    const match = TIME_PART_RE.exec(compact)
    if (match === null) return null
    const unit = match[2] ?? 's'
    if (seen.has(unit)) return null
    seen.add(unit)
    total += Number(match[1]) * TIME_UNITS_MS[unit]
  }
  return total
}

const OUTPUT_UNITS: ReadonlyArray<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]]

/**
 * A ws-cluster duration string for `ms`, in the largest unit that divides it
 * exactly, so `3600s` reads as `1h` and `420s` as `7m`.
 *
 * @example
 * formatDuration(90_000) // '90s'
 */
export function formatDuration (ms: number): string {
  if (ms === 0) return '0s'
  for (const [unit, size] of OUTPUT_UNITS) {
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/** A non-negative integer written in plain digits, or null. */
export function parseCount (text: string): number | null {
  return /^\d{1,9}$/.test(text) ? Number(text) : null
}

const VARIABLE_RE = /\$(?:\{(\w+)\}|(\w+))/g

/**
 * The names of the variables used in a value, without `$` or braces, in
 * order of appearance.
 *
 * @example
 * variablesIn('$host:${server_port}') // ['host', 'server_port']
 */
export function variablesIn (value: string): string[] {
  return [...value.matchAll(VARIABLE_RE)].map(m => m[1] ?? m[2])
}

/** The variable name when the whole value is exactly one variable (`$http_upgrade`, `${host}`), else null. */
export function soleVariable (value: string): string | null {
  const match = /^\$(?:\{(\w+)\}|(\w+))$/.exec(value)
  return match === null ? null : match[1] ?? match[2]
}

/** `${name}` written as `$name` where that cannot change its meaning, so values read the way nginx users write them. */
export function plainVariables (value: string): string {
  return value.replace(/\$\{(\w+)\}(?![\w])/g, '$$$1')
}
