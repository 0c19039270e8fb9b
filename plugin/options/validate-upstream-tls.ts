import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { isIP } from 'node:net'
import type { ResolvedServer, ResolvedUpstreamTls } from './options-types.js'
import { checkBoolean, checkObject, got, indexPath, keyPath, type Problems } from './option-checks.js'
import { UPSTREAM_TLS_DEFAULTS } from './option-defaults.js'

const TLS_KEYS = ['ca', 'servername', 'rejectUnauthorized'] as const
const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g
const CA_ALLOWED = 'PEM text ("-----BEGIN CERTIFICATE-----...") or the path of a PEM file (absolute, or relative to the config file; for the plugin, to the working directory), or an array of them'
const NAME_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i

/** The certificates of one `ca` entry as PEM blocks, or why it cannot be used. */
function loadCa (entry: unknown, baseDir: string): string[] | string {
  if (typeof entry !== 'string' || entry.trim() === '') return 'not a non-empty string'
  let text = entry
  if (!entry.includes('-----BEGIN')) {
    try {
      text = readFileSync(resolve(baseDir, entry), 'utf8')
    } catch (err) {
      return `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`
    }
  }
  const blocks = text.match(CERT_RE) ?? []
  if (blocks.length === 0) return 'no PEM certificate in it'
  for (const block of blocks) {
    try {
      // Parsed once here, so a damaged CA fails at registration, not at the first client.
      // eslint-disable-next-line no-new -- only the parse matters
      new X509Certificate(block)
    } catch (err) {
      return `a certificate in it does not parse (${(err as Error).message})`
    }
  }
  return blocks
}

function resolveCa (value: unknown, path: string, baseDir: string, problems: Problems): string[] | undefined {
  const entries = Array.isArray(value) ? value : [value]
  if (entries.length === 0) {
    problems.push({ path, message: got(value, CA_ALLOWED) })
    return undefined
  }
  const pem: string[] = []
  entries.forEach((entry, i) => {
    const loaded = loadCa(entry, baseDir)
    const at = Array.isArray(value) ? indexPath(path, i) : path
    if (typeof loaded === 'string') problems.push({ path: at, message: `${got(entry, CA_ALLOWED)} (${loaded})` })
    else pem.push(...loaded)
  })
  return pem
}

/**
 * `upstreams.NAME.tls`: how the group's `https://` servers are verified. CA
 * files are read here, so a missing or damaged file is reported with its
 * option path at registration (and by `ws-cluster check`).
 */
export function resolveUpstreamTls (
  value: unknown, path: string, servers: readonly ResolvedServer[] | undefined, problems: Problems, baseDir = process.cwd()
): ResolvedUpstreamTls | undefined {
  const tls: ResolvedUpstreamTls = { ...UPSTREAM_TLS_DEFAULTS }
  if (value === undefined) return tls
  if (!checkObject(value, path, TLS_KEYS, problems, 'an object { ca?, servername?, rejectUnauthorized? }')) return undefined
  const before = problems.length
  if (value.ca !== undefined) tls.ca = resolveCa(value.ca, keyPath(path, 'ca'), baseDir, problems) ?? null
  if (value.servername !== undefined) {
    const name = value.servername
    if (typeof name !== 'string' || isIP(name) !== 0 || !NAME_RE.test(name)) {
      problems.push({ path: keyPath(path, 'servername'), message: got(name, 'a DNS host name such as "chat.internal" (SNI cannot carry an IP address)') })
    } else {
      tls.servername = name
    }
  }
  if (value.rejectUnauthorized !== undefined) {
    tls.rejectUnauthorized = checkBoolean(value.rejectUnauthorized, keyPath(path, 'rejectUnauthorized'), problems) ?? true
  }
  if (servers !== undefined && !servers.some(server => server.protocol === 'https:')) {
    problems.push({ path, message: got(value, 'tls only with at least one https:// server in the group (it applies to nothing else)') })
  }
  return problems.length > before ? undefined : tls
}
