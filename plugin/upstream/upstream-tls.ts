import { isIP } from 'node:net'
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls'
import type { ResolvedUpstreamTls } from '../options/options-types.js'

/**
 * How one group's `https://` servers are reached: certificate and name
 * verified by default (nginx does not verify unless `proxy_ssl_verify on`;
 * an edge proxy that does not is one a network attacker can sit behind), SNI
 * set to the server's host name, the group's CAs in one secure context built
 * at registration instead of parsing the PEM on every connection.
 *
 * @example
 * const tls = new UpstreamTls(group.config.tls)
 * tlsConnect({ socket, ...tls.connectOptions('chat.internal') })
 */
export class UpstreamTls {
  private readonly secureContext: SecureContext | undefined

  constructor (readonly config: ResolvedUpstreamTls) {
    this.secureContext = config.ca === null ? undefined : createSecureContext({ ca: config.ca })
  }

  /**
   * The name to send as SNI and to check the certificate against: the
   * configured `servername`, else the server's host when it is a name (SNI
   * cannot carry an IP address; the certificate is then checked for the IP).
   */
  servername (host: string): string | undefined {
    if (this.config.servername !== null) return this.config.servername
    return isIP(host) === 0 ? host : undefined
  }

  /** Options for `tls.connect` to `host` (over a TCP socket the caller made). */
  connectOptions (host: string): ConnectionOptions {
    const servername = this.servername(host)
    return {
      // Node checks the certificate against `servername`, or against `host` (an IP) when there is none.
      host,
      servername,
      rejectUnauthorized: this.config.rejectUnauthorized,
      secureContext: this.secureContext,
      ALPNProtocols: ['http/1.1']
    }
  }

  /** Options for the group's HTTPS agent (plain-HTTP passthrough); the servername is set per request. */
  agentOptions (): { rejectUnauthorized: boolean, secureContext?: SecureContext } {
    return this.secureContext === undefined
      ? { rejectUnauthorized: this.config.rejectUnauthorized }
      : { rejectUnauthorized: this.config.rejectUnauthorized, secureContext: this.secureContext }
  }
}

// Codes Node and OpenSSL give a failed certificate or TLS handshake (the OpenSSL verify codes, and Node's ERR_TLS_* / ERR_SSL_*).
const TLS_FAILURE_RE = /^(?:ERR_TLS_|ERR_SSL_|UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERR_OSSL_)/

/** True for an error code that says the TLS handshake with an upstream failed (certificate, name or protocol). */
export function isTlsFailure (code: string | undefined): boolean {
  return code !== undefined && TLS_FAILURE_RE.test(code)
}
