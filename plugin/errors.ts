import createError from '@fastify/error'

/**
 * Every error the plugin raises carries a stable `WS_CLUSTER_*` code so that
 * applications and the cluster runtime can react to it without parsing text.
 */
/** Thrown at registration; `problems` lists every problem found, the message shows the first and counts the rest. */
export const InvalidOptionError = createError<[string, string]>(
  'WS_CLUSTER_INVALID_OPTION',
  'Invalid option %s: %s',
  500,
  TypeError
)

export const NoLiveUpstreamError = createError<[string]>(
  'WS_CLUSTER_NO_LIVE_UPSTREAM',
  'No live upstreams in group "%s"',
  502
)

export const UpstreamsAtMaxConnsError = createError<[string]>(
  'WS_CLUSTER_UPSTREAMS_AT_MAX_CONNS',
  'Every usable server of group "%s" is at its maxConns',
  502
)

export const UpstreamConnectTimeoutError = createError<[string, number]>(
  'WS_CLUSTER_UPSTREAM_CONNECT_TIMEOUT',
  'Connecting to upstream %s timed out after %d ms',
  504
)

export const UpstreamHandshakeTimeoutError = createError<[string, number]>(
  'WS_CLUSTER_UPSTREAM_HANDSHAKE_TIMEOUT',
  'Upstream %s did not answer the upgrade within %d ms',
  504
)

export const UpstreamBadHandshakeError = createError<[string, string]>(
  'WS_CLUSTER_UPSTREAM_BAD_HANDSHAKE',
  'Upstream %s sent an invalid upgrade answer: %s',
  502
)

export const UpstreamConnectError = createError<[string, string]>(
  'WS_CLUSTER_UPSTREAM_CONNECT_FAILED',
  'Could not connect to upstream %s: %s',
  502
)

export const BadHandshakeError = createError<[string]>(
  'WS_CLUSTER_BAD_HANDSHAKE',
  'Invalid WebSocket handshake: %s',
  400
)

export const ConnectionLimitError = createError<[string]>(
  'WS_CLUSTER_CONNECTION_LIMIT',
  'Connection limit reached: %s',
  503
)

export const UpstreamTlsError = createError<[string, string]>(
  'WS_CLUSTER_UPSTREAM_TLS_FAILED',
  'TLS with upstream %s failed: %s',
  502
)

export const BadPathError = createError<[string]>(
  'WS_CLUSTER_BAD_PATH',
  'Invalid request path: %s',
  400
)

export const ForbiddenOriginError = createError(
  'WS_CLUSTER_FORBIDDEN_ORIGIN',
  'This origin may not open a WebSocket here',
  403
)

export const RateLimitedError = createError(
  'WS_CLUSTER_RATE_LIMITED',
  'Too many new connections from this address; retry later',
  429
)

export const ShuttingDownError = createError(
  'WS_CLUSTER_SHUTTING_DOWN',
  'The proxy is shutting down and takes no new upgrades',
  503
)

/** The client left (FIN or reset) while an upstream was being asked; nginx logs such a request as 499. */
export const ClientGoneError = createError<[string]>(
  'WS_CLUSTER_CLIENT_GONE',
  'The client went away while upstream %s was being asked',
  499
)

/** A plain (`http: true`) request whose upstream sent no answer within the route's idleTimeout. */
export const UpstreamResponseTimeoutError = createError<[string, number]>(
  'WS_CLUSTER_UPSTREAM_RESPONSE_TIMEOUT',
  'Upstream %s did not answer the request within %d ms',
  504
)

/** A plain (`http: true`) request that reached the upstream but got no usable answer (reset, bad response). */
export const UpstreamRequestFailedError = createError<[string, string]>(
  'WS_CLUSTER_UPSTREAM_REQUEST_FAILED',
  'The request to upstream %s failed: %s',
  502
)

export const HttpVersionNotSupportedError = createError<[string]>(
  'WS_CLUSTER_HTTP_VERSION_NOT_SUPPORTED',
  'HTTP/%s is not supported; use HTTP/1.1',
  505
)

export const UriTooLongError = createError<[number, number]>(
  'WS_CLUSTER_URI_TOO_LONG',
  'The request target is %d bytes; at most %d are accepted (limits.maxUrlLength)',
  414
)

/** A request Node parsed but no server may serve: HTTP/1.1 without Host, or several Host headers. */
export const BadRequestError = createError<[string]>(
  'WS_CLUSTER_BAD_REQUEST',
  'Bad request: %s',
  400
)

/** A request Node's HTTP parser rejected (wsProxyClientErrorHandler): too large, malformed, too slow. */
export const MalformedRequestError = createError<[string]>(
  'WS_CLUSTER_MALFORMED_REQUEST',
  'Malformed request refused: %s',
  400
)

/** A plain GET to a WebSocket-only route (`http: false`). */
export const UpgradeRequiredError = createError<[string, string]>(
  'WS_CLUSTER_UPGRADE_REQUIRED',
  '%s only accepts upgrades to %s',
  426
)

/** A connection that did not send a complete request head within the server's headersTimeout (408). */
export const RequestHeadTimeoutError = createError<[number]>(
  'WS_CLUSTER_REQUEST_HEAD_TIMEOUT',
  'No complete request head within headersTimeout (%d ms)',
  408
)
