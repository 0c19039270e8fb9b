import { accessSync, constants, statSync } from 'node:fs'
import { resolve } from 'node:path'
import leven from 'leven'
import { describeValue, parseDuration } from '../plugin/duration.js'

/** One thing wrong with a configuration, located by a path such as `routes[1].upstream` or `WS_CLUSTER_PORT`. */
export interface ConfigProblem {
  path: string
  message: string
}

/**
 * The validators below collect problems instead of throwing, so that `check`
 * can report every mistake in one run, as `nginx -t` users expect.
 */
export type Problems = ConfigProblem[]

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

function isPlainObject (value: unknown): value is Record<string, unknown> {
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
  value: unknown, path: string, known: readonly string[], problems: Problems
): value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    problems.push({ path, message: got(value, `an object with keys ${known.join(', ')}`) })
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

/** Port 0 is allowed: the OS picks a free port, which tests and throwaway clusters rely on. */
export function checkPort (value: unknown, path: string, problems: Problems): number | undefined {
  return checkInteger(value, path, 0, 65535, problems)
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

/** Reuses the plugin's duration grammar so the file and the plugin accept exactly the same values. */
export function checkDuration (value: unknown, path: string, problems: Problems): number | undefined {
  try {
    return parseDuration(value, path)
  } catch (err) {
    const text = (err as Error).message
    const prefix = `Invalid option ${path}: `
    problems.push({ path, message: text.startsWith(prefix) ? text.slice(prefix.length) : text })
    return undefined
  }
}

/**
 * Resolves `value` against `baseDir` and checks that it names a readable
 * file, so a typo in a certificate or app path fails `check` instead of the
 * first worker start.
 */
export function checkReadableFile (value: unknown, path: string, baseDir: string, problems: Problems): string | undefined {
  const text = checkString(value, path, 'a file path (relative to the config file)', problems)
  if (text === undefined) return undefined
  const absolute = resolve(baseDir, text)
  try {
    if (!statSync(absolute).isFile()) {
      problems.push({ path, message: `"${absolute}" is not a file` })
      return undefined
    }
    accessSync(absolute, constants.R_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message
    problems.push({ path, message: `cannot read "${absolute}": ${reason} (${code})` })
    return undefined
  }
  return absolute
}
