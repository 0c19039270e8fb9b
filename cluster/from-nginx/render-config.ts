import type { ClusterConfigInput } from '../config/config-types.js'

/*
 * Writes the translated config as JSON or as an ES module calling
 * defineConfig. Small objects and arrays stay on one line (a server list,
 * a route), so the file reads like the hand-written examples in the README
 * rather than like JSON.stringify's one value per line.
 */

export type ConfigFormat = 'json' | 'mjs'

const WIDTH = 110
const IDENTIFIER_RE = /^[A-Za-z_$][\w$]*$/

function quote (text: string, format: ConfigFormat): string {
  if (format === 'json') return JSON.stringify(text)
  return `'${JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`
}

function key (name: string, format: ConfigFormat): string {
  return format === 'mjs' && IDENTIFIER_RE.test(name) ? name : quote(name, format)
}

function render (value: unknown, indent: string, format: ConfigFormat): string {
  if (typeof value === 'string') return quote(value, format)
  if (typeof value !== 'object' || value === null) return JSON.stringify(value)
  const inner = `${indent}  `
  const entries = Array.isArray(value)
    ? value.map(item => render(item, inner, format))
    : Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).map(([k, v]) => `${key(k, format)}: ${render(v, inner, format)}`)
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  if (entries.length === 0) return `${open}${close}`
  const padded = Array.isArray(value) ? entries.join(', ') : ` ${entries.join(', ')} `
  const oneLine = `${open}${padded}${close}`
  if (!oneLine.includes('\n') && indent.length + oneLine.length <= WIDTH) return oneLine
  return `${open}\n${entries.map(e => `${inner}${e}`).join(',\n')}\n${indent}${close}`
}

/**
 * The config file text in `format`. `source` (the nginx file) is named in a
 * comment of the `.mjs` form; JSON has no comments.
 *
 * @example
 * renderConfig(config, 'mjs', 'nginx.conf') // "// Translated from nginx.conf ...\nimport { defineConfig } ..."
 */
export function renderConfig (config: ClusterConfigInput, format: ConfigFormat, source: string): string {
  // The top level always spreads over lines, one section each.
  const top = Object.entries(config).filter(([, v]) => v !== undefined).map(([k, v]) => `  ${key(k, format)}: ${render(v, '  ', format)}`)
  const body = `{\n${top.join(',\n')}\n}`
  if (format === 'json') return `${body}\n`
  return `// Translated from ${source} by "ws-cluster from-nginx"; its notes on what was not translated went to stderr.\n` +
    'import { defineConfig } from \'ws-cluster/config\'\n\n' +
    `export default defineConfig(${body})\n`
}
