import { accessSync, constants, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { checkInteger, checkString, type Problems } from '../../plugin/internal.js'

/*
 * Checks of the keys only the cluster's config file has (ports, files). The
 * rest of the vocabulary (objects, integers, durations...) is the plugin's,
 * so a value means the same in both.
 */

/** Port 0 is allowed: the OS picks a free port, which tests and throwaway clusters rely on. */
export function checkPort (value: unknown, path: string, problems: Problems): number | undefined {
  return checkInteger(value, path, 0, 65535, problems)
}

/**
 * Resolves `value` against `baseDir` and checks that it names a readable
 * file, so a typo in a certificate or app path fails `check` instead of the
 * first worker start.
 *
 * @example
 * const cert = checkReadableFile('tls/cert.pem', 'listen.tls.cert', '/etc/ws-cluster', problems)
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
