import type { CloseCode } from './tunnel/close-frames.js'
import type { CloseCause } from './tunnel/tunnel.js'
import type { UpgradeSession } from './upgrade/upgrade-session.js'

export type { CloseCode } from './tunnel/close-frames.js'
export type { CloseCause } from './tunnel/tunnel.js'

/**
 * One proxied WebSocket connection after its 101, as the runtime's lifecycle
 * sees it: what shutdown, drain and reload need to end it, whatever carries
 * its bytes. A tunnel is one; a relayed (terminated) connection can join the
 * same set by offering the same four members.
 *
 * @example
 * for (const connection of runtime.tunnels) {
 *   if (connection.meta.server === removed) connection.closeDeliberately(1012, 'server-removed')
 * }
 */
export interface OpenConnection {
  /** The session that owns its limit slot, server count and access-log line. */
  readonly meta: UpgradeSession
  /** True once both sides are closed and the session was told. */
  readonly finished: boolean
  /**
   * Ends it the way a WebSocket server would: a close frame with `code` to
   * each side at a frame boundary, the closing handshake, then a bounded
   * wait before the sockets are cut. Logged with `cause` as `closedBy`. Only
   * the first call counts.
   */
  closeDeliberately: (code: CloseCode, cause: CloseCause) => void
  /** Cuts it at once (timeouts, a deadline that passed). */
  destroy: (cause: CloseCause) => void
}
