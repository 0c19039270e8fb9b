/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the
 * message, so a proxy must not pass them on (R6). `upgrade` is among them: the
 * proxy sets it again itself on an upgrade request, from the client's value.
 */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'
])

/** Lower-cased tokens of every Connection header in a rawHeaders array: headers the sender declared hop-by-hop. */
export function connectionTokens (rawHeaders: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length !== 10 || rawHeaders[i].toLowerCase() !== 'connection') continue
    for (const token of rawHeaders[i + 1].split(',')) {
      const name = token.trim().toLowerCase()
      if (name === '') continue
      tokens ??= new Set()
      tokens.add(name)
    }
  }
  return tokens
}

/** True when a lower-cased header name must not cross the proxy. */
export function isHopByHop (lowerName: string, tokens: Set<string> | null): boolean {
  return HOP_BY_HOP.has(lowerName) || (tokens !== null && tokens.has(lowerName))
}

/** How many times a header occurs in a rawHeaders array (case-insensitive). */
export function countHeader (rawHeaders: readonly string[], lowerName: string): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === lowerName.length && rawHeaders[i].toLowerCase() === lowerName) count++
  }
  return count
}
