import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
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

/**
 * Loads the certificate and key as the workers will (`tls.createSecureContext`),
 * so `check`, `start` and `reload` all refuse a pair that cannot serve —
 * a key that does not match its certificate, a file that is not PEM — with
 * the same problem line (R62).
 *
 * @example
 * checkTlsPair('/etc/ws-cluster/cert.pem', '/etc/ws-cluster/key.pem', problems)
 */
export function checkTlsPair (cert: string, key: string, problems: Problems): boolean {
  const certPem = readFileSync(cert)
  const keyPem = readFileSync(key)
  // One part at a time, so that the problem names the file at fault.
  const failure = (options: { cert?: Buffer, key?: Buffer }): string | null => {
    try {
      createSecureContext(options)
      return null
    } catch (err) {
      return (err as Error).message
    }
  }
  const certFailure = failure({ cert: certPem })
  if (certFailure !== null) problems.push({ path: 'listen.tls.cert', message: `"${cert}" is not a PEM certificate: ${certFailure}` })
  const keyFailure = failure({ key: keyPem })
  if (keyFailure !== null) problems.push({ path: 'listen.tls.key', message: `"${key}" is not an unencrypted PEM private key: ${keyFailure}` })
  if (certFailure !== null || keyFailure !== null) return false
  const pairFailure = failure({ cert: certPem, key: keyPem })
  if (pairFailure === null) return true
  problems.push({ path: 'listen.tls.key', message: `"${key}" is not the private key of the certificate "${cert}": ${pairFailure}` })
  return false
}
