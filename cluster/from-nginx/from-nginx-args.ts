import { extname } from 'node:path'
import { parseArgs } from 'node:util'
import type { ConfigFormat } from './render-config.js'

/** One line for the CLI's command overview. */
export const FROM_NGINX_SUMMARY = 'translate an nginx config into a ws-cluster config'

const FROM_NGINX_USAGE = 'ws-cluster from-nginx FILE [--out FILE] [--format json|mjs] [--force]'

export interface FromNginxArgs {
  /** The nginx file, as given. */
  file: string
  /** Where to write the config; undefined writes it to stdout. */
  out?: string
  format: ConfigFormat
  /** Replace `out` when it exists. */
  force: boolean
  help: boolean
}

export type ParsedArgs = { ok: true, args: FromNginxArgs } | { ok: false, message: string }

const FORMAT_BY_EXTENSION: Record<string, ConfigFormat> = { '.json': 'json', '.mjs': 'mjs', '.js': 'mjs' }

/**
 * Parses the arguments after `from-nginx`. The format follows `--out`'s
 * extension (`.json`, or `.mjs`/`.js` for a defineConfig module) unless
 * `--format` says it; a contradiction between the two is a usage error.
 *
 * @example
 * parseFromNginxArgs(['nginx.conf', '--out', 'ws-cluster.config.mjs'])
 * // { ok: true, args: { file: 'nginx.conf', out: 'ws-cluster.config.mjs', format: 'mjs', force: false, help: false } }
 */
export function parseFromNginxArgs (argv: string[]): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string', short: 'o' },
        format: { type: 'string' },
        force: { type: 'boolean', short: 'f' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    return { ok: false, message: (err as Error).message.replace(/\. To specify a positional.*$/s, '') }
  }
  const { values, positionals } = parsed
  const help = values.help === true
  if (help) return { ok: true, args: { file: positionals[0] ?? '', format: 'json', force: false, help } }
  if (positionals.length === 0) return { ok: false, message: 'missing FILE: the nginx configuration to translate' }
  if (positionals.length > 1) return { ok: false, message: `one FILE only; got ${positionals.map(p => JSON.stringify(p)).join(', ')}` }
  const format = values.format
  if (format !== undefined && format !== 'json' && format !== 'mjs') return { ok: false, message: `--format: got ${JSON.stringify(format)}; allowed: json, mjs` }
  let fromOut: ConfigFormat | undefined
  if (values.out !== undefined) {
    fromOut = FORMAT_BY_EXTENSION[extname(values.out)]
    if (fromOut === undefined) return { ok: false, message: `--out ${values.out}: the file must end in .json, .mjs or .js (the names ws-cluster check and start read)` }
    if (format !== undefined && format !== fromOut) return { ok: false, message: `--format ${format} does not fit --out ${values.out}` }
  }
  return {
    ok: true,
    args: { file: positionals[0], ...(values.out === undefined ? {} : { out: values.out }), format: format ?? fromOut ?? 'json', force: values.force === true, help }
  }
}

/** The command's --help text. */
export function fromNginxHelp (): string {
  return [
    `Usage: ${FROM_NGINX_USAGE}`,
    '',
    'Translates the WebSocket proxy parts of an nginx configuration (upstream, server, listen, location with',
    'proxy_pass, proxy_* headers and timeouts, worker and connection limits) into a ws-cluster config, checks',
    'the result as "ws-cluster check" does, and writes it only when it is valid.',
    '',
    'Every directive that is not translated is listed on stderr with its line and why, and so are the nginx',
    'settings whose defaults are traps for WebSockets (the 60 s proxy_read_timeout, missing Upgrade headers).',
    '',
    'Options:',
    '  -o, --out FILE              write the config to FILE: .json, or .mjs for a defineConfig module (.js too, where',
    '                              package.json says "type": "module"); default: stdout',
    '      --format json|mjs       output format (default: from --out, else json)',
    '  -f, --force                 replace the --out file when it exists',
    '  -h, --help                  show this help',
    '',
    'Environment: none; from-nginx reads no WS_CLUSTER_* variable (the config it writes is checked without them).',
    '',
    'Exit status: 0 when the config was written, 1 when the nginx file cannot be read or parsed or the',
    'translation is not a valid ws-cluster config (nothing is written), 2 on bad usage.',
    ''
  ].join('\n')
}
