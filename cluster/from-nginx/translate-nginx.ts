import type { UpstreamOptions } from '../../plugin/index.js'
import { LISTED_DIRECTIVE_NAMES } from './directive-reasons.js'
import { serverUrl } from './nginx-addresses.js'
import { parseNginx, walkDirectives, type NginxDirective } from './nginx-parser.js'
import type { ClusterConfigInput } from '../config/config-types.js'
import { translateMain } from './translate-main.js'
import type { Outcome, TranslationNote } from './translation-notes.js'
import { TranslationState, type UpstreamDraft } from './translation-state.js'

/** Directive names the translators handle, which together with the reasons table tell a missing `;` from a multi-line value. */
const HANDLED_NAMES = ['http', 'events', 'server', 'upstream', 'location', 'listen', 'map', 'include', 'proxy_pass', 'proxy_http_version',
  'proxy_set_header', 'proxy_connect_timeout', 'proxy_read_timeout', 'proxy_send_timeout', 'proxy_buffering', 'proxy_redirect',
  'proxy_next_upstream', 'proxy_socket_keepalive', 'worker_processes', 'worker_connections', 'worker_rlimit_nofile', 'worker_shutdown_timeout',
  'limit_conn', 'limit_conn_zone', 'ssl_certificate', 'ssl_certificate_key', 'set_real_ip_from', 'real_ip_header', 'keepalive', 'ip_hash',
  'least_conn', 'server_name']

function isDirectiveName (name: string): boolean {
  return HANDLED_NAMES.includes(name) || LISTED_DIRECTIVE_NAMES.has(name)
}

export interface Translation {
  config: ClusterConfigInput
  /** In file order. */
  notes: TranslationNote[]
  /** The parsed file, and what became of each directive in it. */
  tree: NginxDirective[]
  outcomes: ReadonlyMap<NginxDirective, Outcome>
}

function upstreamOptions (draft: UpstreamDraft): UpstreamOptions {
  const scheme = draft.scheme ?? 'http'
  const servers = draft.servers.map(server => {
    const url = serverUrl(scheme, server.host, server.port)
    return Object.keys(server.options).length === 0 ? url : { url, ...server.options }
  })
  return {
    ...(draft.balance === undefined ? {} : { balance: draft.balance }),
    ...(draft.hashKey === undefined ? {} : { hashKey: draft.hashKey }),
    servers,
    ...(draft.keepalive === undefined ? {} : { keepalive: draft.keepalive })
  }
}

function buildConfig (state: TranslationState): ClusterConfigInput {
  const used = new Set(state.routes.map(r => r.upstream))
  const upstreams: Record<string, UpstreamOptions> = {}
  for (const draft of state.upstreams.values()) {
    if (used.has(draft.name)) upstreams[draft.name] = upstreamOptions(draft)
    else if (!draft.generated) state.notes.note(draft.line, `upstream ${draft.name} is not used by any translated location, so it is left out`)
  }
  return {
    ...(state.listen === undefined ? {} : { listen: state.listen }),
    ...(state.workers === undefined ? {} : { workers: state.workers }),
    ...(state.shutdownTimeout === undefined ? {} : { shutdownTimeout: state.shutdownTimeout }),
    upstreams,
    routes: state.routes,
    ...(Object.keys(state.limits).length === 0 ? {} : { limits: state.limits })
  }
}

/**
 * Translates the WebSocket-relevant parts of an nginx configuration into a
 * ws-cluster config. Everything it cannot translate is in `notes` with its
 * line and why, and every directive of the file has an outcome. Throws
 * {@link NginxSyntaxError} (from nginx-parser.ts) when the text is not valid
 * nginx syntax.
 *
 * @example
 * const { config, notes } = translateNginx(readFileSync('nginx.conf', 'utf8'))
 */
export function translateNginx (text: string): Translation {
  const tree = parseNginx(text, { isDirectiveName })
  const state = new TranslationState()
  translateMain(state, tree)
  // A gap in the translators must still show up as a line of output, never as silence.
  for (const directive of walkDirectives(tree)) {
    if (!state.notes.outcomes.has(directive)) state.notes.notTranslated(directive, 'nothing in from-nginx handled this directive here')
  }
  const config = buildConfig(state)
  return { config, notes: state.notes.sorted(), tree, outcomes: state.notes.outcomes }
}
