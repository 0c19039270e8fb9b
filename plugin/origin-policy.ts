/*
 * Cross-site WebSocket hijacking: a browser lets any page open a WebSocket to
 * any host and sends that host's cookies with it, so an upgrade authenticated
 * by a cookie can be made by a hostile page. Browsers always send the page's
 * Origin with the upgrade; checking it against a list is the defence (RFC
 * 6455 §10.2). Clients that are not browsers usually send no Origin at all,
 * which is why a missing one is allowed unless the route requires it.
 */

/** One entry of `allowedOrigins`, compiled at registration. */
export type OriginRule =
  | { kind: 'exact', origin: string }
  /** `https://*.example.com`: any subdomain (one label or more) of `suffix`, never the bare domain. */
  | { kind: 'subdomains', scheme: string, suffix: string, port: string }

const WILDCARD_LABEL = 'ws-cluster-wildcard-label'

/**
 * Compiles one `allowedOrigins` entry: `scheme://host[:port]`, where host may
 * start with `*.`. Returns the rule, or what is wrong with the entry (the
 * validator wraps it into its `got X; allowed: Y` message).
 *
 * @example
 * compileOriginRule('https://*.example.com') // { kind: 'subdomains', scheme: 'https:', suffix: '.example.com', port: '' }
 */
export function compileOriginRule (entry: string): OriginRule | string {
  const wildcard = /^([a-z][a-z0-9+.-]*:\/\/)\*\./i.exec(entry)
  const text = wildcard === null ? entry : `${wildcard[1]}${WILDCARD_LABEL}.${entry.slice(wildcard[0].length)}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'not an origin'
  }
  if (url.host === '' || url.origin === 'null') return 'not an origin (scheme://host[:port] with a host)'
  // An origin has no path, query, fragment or credentials: a page's Origin header never carries them.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#@]+\/?$/i.test(text)) return 'an origin has no path, query, fragment or user'
  if (url.hostname.includes('*')) return 'a "*" is only allowed as the first label ("https://*.example.com")'
  if (wildcard === null) return { kind: 'exact', origin: url.origin }
  const suffix = url.hostname.slice(WILDCARD_LABEL.length)
  if (suffix.split('.').filter(Boolean).length < 2) return 'a wildcard needs a domain of at least two labels ("https://*.example.com")'
  return { kind: 'subdomains', scheme: url.protocol, suffix, port: url.port }
}

/**
 * Whether an upgrade's Origin header value is allowed by `rules`. The value
 * is compared the way browsers serialise origins (lower case, default port
 * left out), so `HTTPS://App.Example.com:443` matches `https://app.example.com`.
 * The opaque origin `null` (sandboxed frames, local files) never matches.
 *
 * @example
 * originAllowed('https://chat.example.com', [compileOriginRule('https://*.example.com') as OriginRule]) // true
 */
export function originAllowed (origin: string, rules: readonly OriginRule[]): boolean {
  let url: URL
  try {
    url = new URL(origin.trim())
  } catch {
    return false
  }
  const serialized = url.origin
  if (serialized === 'null') return false
  for (const rule of rules) {
    if (rule.kind === 'exact') {
      if (serialized === rule.origin) return true
      continue
    }
    if (url.protocol === rule.scheme && url.port === rule.port &&
      url.hostname.length > rule.suffix.length && url.hostname.endsWith(rule.suffix)) return true
  }
  return false
}
