import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { WarningThrottle } from '../../plugin/internal.js'
import type { ProxyHeaderRefusals } from '../status-report.js'
import { readProxyHeader, type ProxyRead, type ProxyRefusal } from './proxy-protocol-reader.js'

/** A client that connects and sends no PROXY header within this time is closed (R32). */
export const PROXY_HEADER_TIMEOUT_MS = 5000

/** Why the gate closed a connection before its header was read: the reader's reasons, or too many waiting. */
export type GateRefusal = ProxyRefusal | 'too-many-pending'

const MESSAGES: Record<GateRefusal, string> = {
  invalid: 'connection closed: its PROXY protocol header is missing or malformed',
  timeout: `connection closed: no complete PROXY protocol header within ${PROXY_HEADER_TIMEOUT_MS / 1000} s`,
  closed: '',
  'too-many-pending': 'connection closed at once: too many connections are waiting to send their PROXY protocol header (listen.maxPendingProxyHeaders)'
}

/**
 * Bounds what connections that have not yet sent their PROXY header can cost
 * the primary (R60): at most `maxPending` of them at a time, each for at
 * most 5 s and 16 + 4096 bytes. Every refusal is counted by reason; the log
 * gets one warning per reason at most every 10 s, with how many were left
 * out, so a flood of bad connections cannot flood the log.
 *
 * @example
 * const gate = new ProxyHeaderGate(1024, log)
 * gate.admit(socket, ({ header, rest }) => route(socket, header, rest))
 */
export class ProxyHeaderGate {
  readonly refused: ProxyHeaderRefusals = { invalid: 0, timeout: 0, closed: 0, 'too-many-pending': 0 }
  /** Connections whose header is being read right now. */
  pending = 0
  private readonly warnings: WarningThrottle

  constructor (private readonly maxPending: number, log: Logger, private readonly timeoutMs = PROXY_HEADER_TIMEOUT_MS) {
    this.warnings = new WarningThrottle(log)
  }

  admit (socket: Socket, peer: string, done: (read: ProxyRead) => void): void {
    if (this.pending >= this.maxPending) {
      socket.destroy()
      this.refuse('too-many-pending', peer)
      return
    }
    this.pending++
    readProxyHeader(socket, this.timeoutMs, (read) => {
      this.pending--
      done(read)
    }, (reason) => {
      this.pending--
      this.refuse(reason, peer)
    })
  }

  private refuse (reason: GateRefusal, peer: string): void {
    this.refused[reason]++
    // TCP health checks of balancers connect and close without a byte: counted, not worth a warning.
    if (reason === 'closed') return
    this.warnings.warn(`proxy-header-${reason}`, { peer, reason, pending: this.pending, refusedTotal: this.refused[reason] }, MESSAGES[reason])
  }
}
