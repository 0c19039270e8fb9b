/**
 * Config files for the external peers, in the "classic" shape their docs and
 * most deployments use for WebSockets, so that the comparison is against what
 * people actually run and not a tuned special case.
 */

/**
 * nginx: one worker, no access log, every path it writes to inside `dir`. Each
 * proxied WebSocket takes two worker connections; the headroom beyond that is
 * for connections of earlier batches still closing (with less, nginx reset ~70
 * of 5,000 new connections, logging "worker_connections are not enough").
 */
export function nginxConfig (dir: string, listenPort: number, backendPorts: readonly number[], maxConnections: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile ${maxConnections * 2 + 4096};
events {
  worker_connections ${maxConnections * 2 + 3072};
}
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
  upstream echo {
${backendPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`
}

/**
 * HAProxy: `mode http` (so it validates the upgrade), one thread, `timeout tunnel`
 * for the WebSocket phase. `option redispatch 1` is the usual line beside more
 * than one server: without it a retry after a refused connect goes to the same
 * (dead) server, so a client would get a 503 instead of the other backend.
 */
export function haproxyConfig (listenPort: number, backendPorts: readonly number[], maxConnections: number): string {
  return `global
  nbthread 1
  maxconn ${maxConnections + 512}

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch 1

frontend ws_in
  bind 127.0.0.1:${listenPort}
  default_backend echo

backend echo
  balance roundrobin
${backendPorts.map((p, i) => `  server echo${i + 1} 127.0.0.1:${p} maxconn ${maxConnections + 512}`).join('\n')}
`
}

/** The ws-cluster CLI's config file: one upstream (default balance and passive health), one route, no admin listener. */
export function clusterConfig (listenPort: number, backendPorts: readonly number[], workers: number | 'auto'): string {
  return JSON.stringify({
    upstreams: { echo: { servers: backendPorts.map((p) => `http://127.0.0.1:${p}`) } },
    routes: [{ path: '/', upstream: 'echo' }],
    listen: { port: listenPort, host: '127.0.0.1' },
    admin: false,
    workers,
    // The bench closes its connections before stopping, so a long drain would only slow the run down.
    shutdownTimeout: '2s',
    log: { level: 'warn' }
  }, null, 2)
}
