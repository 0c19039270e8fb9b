/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is what these strings name */

/*
 * The value grammar of the `headers` route option: literal text with the
 * nginx variables that `proxy_set_header` lines in real configs use. A value
 * is compiled once, at registration, into literal and variable parts, so a
 * request only concatenates (no parsing, no regular expression).
 */

/** The variables with a fixed name; `$http_<name>` is the request header `<name>`. */
export const TEMPLATE_VARIABLES = ['host', 'http_host', 'server_port', 'remote_addr', 'scheme', 'request_uri'] as const
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number]

/** How the supported variables are listed in error messages and docs. */
export const TEMPLATE_VARIABLES_TEXT = '$host, $http_host, $server_port, $remote_addr, $scheme, $request_uri and $http_<name> ' +
  '(any request header: lower case, dashes as underscores), also written ${name}'

/** One piece of a compiled value: literal text, a fixed variable, or a request header (lower-cased, with dashes). */
export type TemplatePart = string | { variable: Exclude<TemplateVariable, 'http_host'> } | { header: string }

/** A compiled header value: `parts` joined give the value for one request. */
export interface HeaderTemplate {
  /** As written in the options, for messages. */
  source: string
  parts: readonly TemplatePart[]
}

/** One `set` or `append` entry, its name as written (sent with that case) and lower-cased (for matching). */
export interface RouteHeaderRule {
  name: string
  lower: string
  value: HeaderTemplate
}

/** The `headers` option of a route after validation. */
export interface ResolvedRouteHeaders {
  /** Replace every copy, client's or built-in; Host among them is kept apart in `host`. */
  set: readonly RouteHeaderRule[]
  /** Added after the copies that are sent anyway. */
  append: readonly RouteHeaderRule[]
  /** Lower-cased names whose client and built-in copies are not sent: every set (Host aside) and every removed name. */
  replaced: ReadonlySet<string>
  /** A `set` of Host: it replaces what preserveHost would send. */
  host: HeaderTemplate | null
}

const NAME_CHAR = /[A-Za-z0-9_]/
// What Node's HTTP client accepts in a header value (it throws on anything else).
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/

/** Why a variable name is not supported, or null when it is; `http_` alone names no header. */
function variableProblem (name: string): string | null {
  if (name.startsWith('http_') && name.length > 5) return null
  if ((TEMPLATE_VARIABLES as readonly string[]).includes(name)) return null
  return `"$${name}" is not a supported variable`
}

function variablePart (name: string): TemplatePart {
  if (name.startsWith('http_')) return { header: name.slice(5).replaceAll('_', '-') }
  return { variable: name as Exclude<TemplateVariable, 'http_host'> }
}

/** Reads the variable that starts at `text[at]` (a "$"): its name and where the text goes on, or what is wrong. */
function readVariable (text: string, at: number): { name: string, end: number } | string {
  if (text[at + 1] === '{') {
    const close = text.indexOf('}', at + 2)
    const name = close === -1 ? '' : text.slice(at + 2, close)
    if (close === -1 || name === '' || [...name].some(c => !NAME_CHAR.test(c))) return 'a "${" must enclose a variable name and close with "}"'
    return { name, end: close + 1 }
  }
  let end = at + 1
  while (end < text.length && NAME_CHAR.test(text[end])) end++
  if (end === at + 1) return 'a "$" must start a variable ($name or ${name}); nginx has no literal "$" either'
  return { name: text.slice(at + 1, end), end }
}

/**
 * Compiles a header value, or says what is wrong with it. nginx variable
 * names are case-insensitive, so `$Host` is `$host`.
 *
 * @example
 * compileHeaderTemplate('$host:$server_port') // { source, parts: [{ variable: 'host' }, ':', { variable: 'server_port' }] }
 */
export function compileHeaderTemplate (text: string): HeaderTemplate | string {
  const bad = INVALID_VALUE_CHAR.exec(text)
  if (bad !== null) return `a header value cannot hold ${JSON.stringify(bad[0])} (control characters and line breaks are not allowed)`
  const parts: TemplatePart[] = []
  let literal = ''
  let at = 0
  while (at < text.length) {
    const dollar = text.indexOf('$', at)
    if (dollar === -1) {
      literal += text.slice(at)
      break
    }
    literal += text.slice(at, dollar)
    const variable = readVariable(text, dollar)
    if (typeof variable === 'string') return variable
    const name = variable.name.toLowerCase()
    const problem = variableProblem(name)
    if (problem !== null) return problem
    if (literal !== '') parts.push(literal)
    literal = ''
    parts.push(variablePart(name))
    at = variable.end
  }
  if (literal !== '') parts.push(literal)
  return { source: text, parts }
}
