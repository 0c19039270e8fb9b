import { startRawBackend, type RawBackend, type RawExchange } from './backends.js'
import { assertNoFdLeak, openFdCount } from './fd-leak.js'
import { startProxyFixture, type ProxyFixture, type ProxyFixtureOptions } from './proxy-fixture.js'
import { RawClient } from './raw-http.js'

export interface RawTunnelOptions {
  /**
   * Puts a hand-written upstream ({@link startRawBackend}) answering each
   * connection this way behind the proxy, instead of the fixture's echo backends.
   */
  answer?: (exchange: RawExchange) => void
  /** Fixture options; with `answer`, `backends: 0` and the raw upstream as the only server unless given here. */
  proxy?: ProxyFixtureOptions
  /** Keep the client's half open after the proxy's FIN (R14 tests). */
  allowHalfOpen?: boolean
}

/** What the test body gets: the proxy, a connected raw client and, with `answer`, the raw upstream. */
export interface RawTunnel {
  proxy: ProxyFixture
  client: RawClient
  upstream: RawBackend
}

/**
 * Runs `body` with a proxy fixture and a raw client connected to it (the
 * client has sent nothing yet), then destroys the client, closes the proxy
 * and the upstream, and checks that no descriptor leaked (R38). The fd check
 * is skipped when `body` failed, so its error is the one reported.
 *
 * @example
 * await withRawTunnel({ answer: ({ socket, headers }) => socket.write(switchingHead(headers['sec-websocket-key'])) }, async ({ client }) => {
 *   client.write(requestHead())
 *   assert.equal((await client.head()).statusCode, 101)
 * })
 */
export async function withRawTunnel (options: RawTunnelOptions & Required<Pick<RawTunnelOptions, 'answer'>>, body: (tunnel: RawTunnel) => Promise<void>): Promise<void>
export async function withRawTunnel (options: RawTunnelOptions, body: (tunnel: Omit<RawTunnel, 'upstream'>) => Promise<void>): Promise<void>
export async function withRawTunnel (options: RawTunnelOptions, body: (tunnel: RawTunnel) => Promise<void>): Promise<void> {
  const baseline = openFdCount()
  const upstream = options.answer === undefined ? undefined : await startRawBackend(options.answer)
  const proxy = await startProxyFixture(upstream === undefined ? options.proxy : { backends: 0, servers: [upstream.url], ...options.proxy })
  const client = await RawClient.open(proxy.port, { allowHalfOpen: options.allowHalfOpen })
  try {
    await body({ proxy, client, upstream: upstream as RawBackend })
  } finally {
    await client.destroy()
    await proxy.close()
    await upstream?.close()
  }
  await assertNoFdLeak(baseline)
}
