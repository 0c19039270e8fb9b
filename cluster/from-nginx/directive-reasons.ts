/*
 * Why common nginx directives have no ws-cluster counterpart, grouped by
 * what they are for, so each "not translated" line says what to do instead
 * rather than only "unknown".
 */

const APP_PLUGIN = 'do it in the `app` Fastify plugin that every worker registers'

const GROUPS: ReadonlyArray<{ why: string, names: readonly string[] }> = [
  {
    why: `ws-cluster serves no files; ${APP_PLUGIN} (e.g. with @fastify/static)`,
    names: ['root', 'alias', 'index', 'autoindex', 'autoindex_exact_size', 'autoindex_format', 'autoindex_localtime', 'try_files',
      'default_type', 'types', 'charset', 'source_charset', 'expires', 'etag', 'if_modified_since', 'open_file_cache',
      'open_file_cache_errors', 'open_file_cache_min_uses', 'open_file_cache_valid', 'disable_symlinks', 'internal', 'log_not_found']
  },
  {
    why: 'file-serving socket tuning of nginx; Node and the tunnel manage their own sockets',
    names: ['sendfile', 'sendfile_max_chunk', 'tcp_nopush', 'tcp_nodelay', 'aio', 'aio_write', 'directio', 'directio_alignment',
      'output_buffers', 'postpone_output', 'read_ahead']
  },
  {
    why: 'ws-cluster does not compress HTTP responses; WebSocket messages keep their own permessage-deflate end to end',
    names: ['gzip', 'gzip_comp_level', 'gzip_min_length', 'gzip_proxied', 'gzip_types', 'gzip_vary', 'gzip_buffers',
      'gzip_disable', 'gzip_http_version', 'gzip_static', 'gunzip', 'brotli', 'brotli_comp_level', 'brotli_types', 'brotli_static']
  },
  {
    why: 'ws-cluster logs one NDJSON line per proxied session (`log.level` in the config); there are no nginx log formats',
    names: ['access_log', 'error_log', 'log_format', 'open_log_file_cache', 'rewrite_log', 'log_subrequest']
  },
  {
    why: `no rewrites, redirects or per-request variables in ws-cluster; ${APP_PLUGIN}`,
    names: ['return', 'rewrite', 'if', 'set', 'break', 'error_page', 'recursive_error_pages', 'absolute_redirect',
      'server_name_in_redirect', 'port_in_redirect', 'sub_filter', 'sub_filter_once', 'sub_filter_types', 'ssi', 'split_clients', 'geo']
  },
  {
    why: `access control is an \`onRequest\` hook in ws-cluster; ${APP_PLUGIN} (it runs before the upgrade is proxied)`,
    names: ['allow', 'deny', 'auth_basic', 'auth_basic_user_file', 'auth_request', 'auth_request_set', 'satisfy', 'limit_except',
      'valid_referers', 'secure_link', 'secure_link_md5']
  },
  {
    why: `no rate limiting in ws-cluster; ${APP_PLUGIN} (e.g. with @fastify/rate-limit)`,
    names: ['limit_req', 'limit_req_zone', 'limit_req_status', 'limit_req_log_level', 'limit_req_dry_run', 'limit_rate', 'limit_rate_after']
  },
  {
    why: `response headers come from the backend; to add some, ${APP_PLUGIN} (an \`onSend\` hook)`,
    names: ['add_header', 'add_trailer', 'more_set_headers', 'more_clear_headers', 'server_tokens']
  },
  {
    why: 'client connection tuning of nginx; Node\'s HTTP server settings apply (header size: Fastify `http.maxHeaderSize`; request head: `headersTimeout`)',
    names: ['client_max_body_size', 'client_body_buffer_size', 'client_header_buffer_size', 'large_client_header_buffers',
      'client_body_timeout', 'client_header_timeout', 'client_body_temp_path', 'client_body_in_file_only', 'keepalive_timeout',
      'keepalive_requests', 'keepalive_time', 'keepalive_disable', 'send_timeout', 'reset_timedout_connection', 'lingering_close',
      'lingering_time', 'lingering_timeout', 'send_lowat', 'ignore_invalid_headers', 'underscores_in_headers', 'merge_slashes', 'msie_padding']
  },
  {
    why: 'ws-cluster has no virtual hosts: every route answers on the one listener, whatever the Host',
    names: ['server_name', 'server_names_hash_max_size', 'server_names_hash_bucket_size']
  },
  {
    why: 'an nginx internal table size with no meaning in ws-cluster',
    names: ['variables_hash_max_size', 'variables_hash_bucket_size', 'types_hash_max_size', 'types_hash_bucket_size',
      'map_hash_max_size', 'map_hash_bucket_size', 'proxy_headers_hash_max_size', 'proxy_headers_hash_bucket_size']
  },
  {
    why: 'ws-cluster resolves host names with the system resolver',
    names: ['resolver', 'resolver_timeout']
  },
  {
    why: 'TLS settings beyond the certificate and key are Node\'s TLS defaults in ws-cluster',
    names: ['ssl_protocols', 'ssl_ciphers', 'ssl_prefer_server_ciphers', 'ssl_session_cache', 'ssl_session_timeout', 'ssl_session_tickets',
      'ssl_session_ticket_key', 'ssl_dhparam', 'ssl_ecdh_curve', 'ssl_stapling', 'ssl_stapling_verify', 'ssl_trusted_certificate',
      'ssl_client_certificate', 'ssl_verify_client', 'ssl_verify_depth', 'ssl_buffer_size', 'ssl_early_data', 'ssl_password_file',
      'ssl_conf_command', 'ssl_reject_handshake', 'ssl_crl', 'ssl_ocsp', 'ssl_ocsp_cache', 'ssl_ocsp_responder']
  },
  {
    why: 'ws-cluster talks HTTP/1.1 to clients (WebSockets are upgraded HTTP/1.1 connections)',
    names: ['http2', 'http2_push', 'http2_push_preload', 'http2_max_concurrent_streams', 'http2_recv_buffer_size', 'http2_chunk_size',
      'http3', 'http3_hq', 'quic_retry', 'quic_gso', 'quic_host_key', 'spdy_headers_comp']
  },
  {
    why: 'ws-cluster proxies HTTP and WebSockets only, not FastCGI, uwsgi, SCGI, gRPC or memcached',
    names: ['fastcgi_pass', 'fastcgi_param', 'fastcgi_index', 'fastcgi_split_path_info', 'uwsgi_pass', 'uwsgi_param', 'scgi_pass',
      'scgi_param', 'grpc_pass', 'grpc_set_header', 'memcached_pass', 'include_fastcgi_params']
  },
  {
    why: 'ws-cluster neither buffers nor caches responses: WebSocket bytes are tunnelled and plain HTTP is streamed',
    names: ['proxy_buffers', 'proxy_buffer_size', 'proxy_busy_buffers_size', 'proxy_temp_path', 'proxy_temp_file_write_size',
      'proxy_max_temp_file_size', 'proxy_cache', 'proxy_cache_path', 'proxy_cache_key', 'proxy_cache_valid', 'proxy_cache_bypass',
      'proxy_no_cache', 'proxy_cache_lock', 'proxy_cache_use_stale', 'proxy_cache_methods', 'proxy_cache_min_uses', 'proxy_store',
      'proxy_request_buffering', 'proxy_force_ranges']
  },
  {
    why: 'how nginx runs its processes; run ws-cluster under systemd or as a container command and set these there (User=, LimitNOFILE=)',
    names: ['user', 'daemon', 'master_process', 'worker_cpu_affinity', 'worker_priority', 'timer_resolution', 'pcre_jit',
      'thread_pool', 'lock_file', 'working_directory', 'worker_rlimit_core', 'env', 'load_module', 'google_perftools_profiles']
  },
  {
    why: 'ws-cluster keeps its pid file and control socket in its run directory (WS_CLUSTER_RUN_DIR, default .ws-cluster/ beside the config)',
    names: ['pid']
  },
  {
    why: 'how nginx waits for events; Node\'s event loop decides this in ws-cluster',
    names: ['use', 'multi_accept', 'accept_mutex', 'accept_mutex_delay', 'worker_aio_requests', 'debug_connection']
  },
  {
    why: 'ws-cluster has no stub_status page; the admin listener serves /status (JSON) and /metrics (Prometheus) instead',
    names: ['stub_status']
  },
  {
    why: 'ws-cluster proxies HTTP and WebSockets, not raw TCP/UDP streams or mail',
    names: ['stream', 'mail']
  }
]

const REASONS = new Map<string, string>()
for (const group of GROUPS) for (const name of group.names) REASONS.set(name, group.why)

/** The reason a directive is not translated, for directives no translator handles. */
export function reasonFor (name: string): string {
  const known = REASONS.get(name)
  if (known !== undefined) return known
  if (name.startsWith('proxy_')) return 'a proxy setting with no ws-cluster equivalent'
  if (name.startsWith('ssl_')) return 'TLS settings beyond the certificate and key are Node\'s TLS defaults in ws-cluster'
  return 'unknown to ws-cluster from-nginx; it has no ws-cluster equivalent'
}

/** Every directive name this table knows, for telling a missing `;` apart from a multi-line argument list. */
export const LISTED_DIRECTIVE_NAMES: ReadonlySet<string> = new Set(REASONS.keys())
