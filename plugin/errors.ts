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
