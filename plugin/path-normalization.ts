import type { IncomingMessage } from 'node:http'

/*
 * nginx matches locations against the normalised path ($uri): `//` merged,
 * `.` and `..` resolved, percent-encoded dots decoded. A proxy that matches
 * the raw path lets `/pub/../secret` through a `/pub/*` route, and one that
 * matches the normalised path but sends the raw one lets the upstream resolve
 * it elsewhere. Here the request's URL itself is rewritten before any router
 * or hook sees it, so route matching, hooks and the upstream all read the
 * same path. The query is never touched.
 */

/** The result of {@link normalizePath}. */
export interface NormalizedPath {
  /** The path with `//` merged and `.`/`..` resolved; a `..` at the root is dropped. */
  path: string
  /** Why the path cannot be served unambiguously (it climbs above the root, or hides a dot segment), or null. */
  problem: string | null
}

// Anything that may need work: `//`, a segment starting with a dot, a percent escape, a backslash.
const NEEDS_WORK = /\/\/|\/\.|%|\\/

/** '.', '..' or null for one path segment, percent-encoded dots (`%2e`, as nginx decodes them) included. */
function dotSegment (segment: string): '.' | '..' | null {
  if (segment.length > 6) return null
  const decoded = segment.includes('%') ? segment.replace(/%2e/gi, '.') : segment
  return decoded === '.' || decoded === '..' ? decoded : null
}

/**
 * True for a segment that an upstream may still read as a dot segment: one
 * with an encoded slash or a backslash around a dot segment (`..%2f`, which
 * nginx itself would decode and resolve, and servers on Windows split on
 * `\`), or a dot segment with `;parameters` (`..;x`, which servlet
 * containers read as `..`).
 */
function hidesDotSegment (segment: string): boolean {
  const semicolon = segment.indexOf(';')
  if (semicolon !== -1 && dotSegment(segment.slice(0, semicolon)) !== null) return true
  if (!/%2f|%5c|\\/i.test(segment)) return false
  const decoded = segment.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\')
  return decoded.split(/[/\\]/).some(part => part === '.' || part === '..')
}

/**
 * Normalises a request path (without its query) the way nginx does before
 * matching locations. A path that needs no work is returned as is.
 *
 * @example
 * normalizePath('/pub/../secret')   // { path: '/secret', problem: null }
 * normalizePath('/pub//a/%2e/b')    // { path: '/pub/a/b', problem: null }
 * normalizePath('/../etc')          // { path: '/etc', problem: 'the path climbs above the root' }
 */
export function normalizePath (path: string): NormalizedPath {
  if (!NEEDS_WORK.test(path)) return { path, problem: null }
  const segments = path.split('/')
  const out: string[] = []
  let problem: string | null = null
  let trailingSlash = false
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]
    const last = i === segments.length - 1
    const dots = segment === '' ? '.' : dotSegment(segment)
    if (dots !== null) {
      if (dots === '..') {
        if (out.length === 0) problem ??= 'the path climbs above the root'
        else out.pop()
      }
      // "/a/b/.." and "/a/." name the directory "/a/", as in RFC 3986 §5.2.4.
      if (last) trailingSlash = true
      continue
    }
    if (hidesDotSegment(segment)) problem ??= 'the path hides a dot segment (an encoded slash, a backslash or ";" next to "." or "..")'
    out.push(segment)
  }
  const normalized = '/' + out.join('/') + (trailingSlash && out.length > 0 ? '/' : '')
  return { path: normalized, problem }
}

const kPathProblem = Symbol('ws-cluster.path-problem')

type MarkedRequest = IncomingMessage & { [kPathProblem]?: string }

/**
 * Rewrites `req.url` to its normalised path (query kept as sent) when the raw
 * or the normalised path is one the plugin owns (`owns`); other requests of
 * the application are left as they came. A path that cannot be normalised
 * safely keeps (or is pointed at) the plugin's route and is marked, so that
 * the route refuses it with 400 ({@link pathProblemOf}).
 */
export function normalizeRequestUrl (req: IncomingMessage, owns: (path: string) => boolean): void {
  const url = req.url
  if (url === undefined || url.charCodeAt(0) !== 47 /* "/" */) return
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const result = normalizePath(path)
  if (result.path === path && result.problem === null) return
  const ownsRaw = owns(path)
  if (!ownsRaw && !owns(result.path)) return
  const query = q === -1 ? '' : url.slice(q)
  if (result.problem !== null) {
    (req as MarkedRequest)[kPathProblem] = result.problem
    if (!ownsRaw) req.url = result.path + query
    return
  }
  req.url = result.path + query
}

/** Why {@link normalizeRequestUrl} found the request's path unusable, or undefined. */
export function pathProblemOf (req: IncomingMessage): string | undefined {
  return (req as MarkedRequest)[kPathProblem]
}
