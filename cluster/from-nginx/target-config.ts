import type { RouteOptions } from '../../plugin/index.js'
import type { ClusterConfigInput } from '../config/config-types.js'

/*
 * The ws-cluster configuration the translation writes. It is the config
 * file's own shape plus two route options that ws-cluster is about to gain
 * (`headers`, `upstreamPath`): the translator already emits them, and
 * validate-translation.ts keeps them out of the validation until the
 * validator knows them.
 */

/**
 * Upstream request headers of a route. Values are literals or use nginx's
 * variable syntax (`$host`, `$http_host`, `$server_port`, `$remote_addr`,
 * `$scheme`, `$request_uri`, `$http_<name>`), e.g. `"$host:$server_port"`.
 */
export interface RouteHeaders {
  /** Replace (or add) these headers. */
  set?: Record<string, string>
  /** Add these after whatever the client sent. */
  append?: Record<string, string>
  /** Never send these upstream. */
  remove?: string[]
}

/** A route as the translation emits it. */
export interface TranslatedRoute extends RouteOptions {
  headers?: RouteHeaders
  /**
   * Replaces the part of the request path that the route matched, like the
   * URI part of nginx's `proxy_pass http://backend/;`: route `/ws/*` with
   * `upstreamPath: '/'` sends `/ws/chat?x=1` upstream as `/chat?x=1`.
   */
  upstreamPath?: string
}

/** The whole translated config: a `ws-cluster.config.json` (or `defineConfig` argument) with the pending route options. */
export interface TranslatedConfig extends Omit<ClusterConfigInput, 'routes'> {
  routes: TranslatedRoute[]
}

/** Route options that ws-cluster's validator may not know yet (see validate-translation.ts). */
export const PENDING_ROUTE_OPTIONS = ['headers', 'upstreamPath'] as const
