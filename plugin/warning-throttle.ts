import type { FastifyBaseLogger } from 'fastify'

/** How often one kind of warning may be written. */
const WARNING_INTERVAL_MS = 10_000

// A hostile client can cause the same warning thousands of times a second;
// past this many distinct kinds, the oldest are forgotten.
const MAX_KINDS = 256

interface Kind {
  last: number
  suppressed: number
}

/**
 * Writes a warning the first time it happens, then at most once per
 * `intervalMs` for the same `kind`, with the number left out in between
 * (`suppressed`), so an attacker who triggers one warning in a loop cannot
 * flood the log or the disk while the operator still sees that it goes on.
 *
 * @example
 * const warnings = new WarningThrottle(fastify.log)
 * warnings.warn('accept-limit', { client }, 'connection closed at accept')
 */
export class WarningThrottle {
  private readonly kinds = new Map<string, Kind>()

  constructor (private readonly log: FastifyBaseLogger, private readonly intervalMs = WARNING_INTERVAL_MS) {}

  /** Writes `message` to `log` (default: the throttle's logger, e.g. a request's own to keep its reqId). */
  warn (kind: string, fields: Record<string, unknown>, message: string, log: FastifyBaseLogger = this.log): void {
    this.write(log, 'warn', kind, fields, message)
  }

  /** Like {@link warn}, for errors a client can trigger at will (an upstream group down under a flood of upgrades). */
  error (kind: string, fields: Record<string, unknown>, message: string, log: FastifyBaseLogger = this.log): void {
    this.write(log, 'error', kind, fields, message)
  }

  private write (log: FastifyBaseLogger, level: 'warn' | 'error', kind: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now()
    const seen = this.kinds.get(kind)
    if (seen !== undefined && now - seen.last < this.intervalMs) {
      seen.suppressed++
      return
    }
    const suppressed = seen?.suppressed ?? 0
    if (seen === undefined && this.kinds.size >= MAX_KINDS) {
      const oldest = this.kinds.keys().next().value
      if (oldest !== undefined) this.kinds.delete(oldest)
    }
    this.kinds.delete(kind)
    this.kinds.set(kind, { last: now, suppressed: 0 })
    log[level](suppressed > 0 ? { ...fields, suppressed, suppressedForMs: this.intervalMs } : fields, message)
  }
}

/**
 * `log` with its warn and error levels going through `throttle`, one kind per
 * message under `kindPrefix`; every other level and method is `log`'s own.
 * For loggers that code outside the plugin writes to once per request
 * (Fastify's error line for a 5xx, @fastify/reply-from's "response errored").
 *
 * @example
 * request.log = throttledLogger(request.log, runtime.warnings, 'http:/socket.io/*')
 */
export function throttledLogger (log: FastifyBaseLogger, throttle: WarningThrottle, kindPrefix: string): FastifyBaseLogger {
  // A child in all but bindings: pino's methods find the stream and bindings through the prototype.
  const throttled = Object.create(log) as FastifyBaseLogger
  const through = (level: 'warn' | 'error') => (fields: unknown, message?: string): void => {
    const text = message ?? (typeof fields === 'string' ? fields : level)
    const object = typeof fields === 'object' && fields !== null ? fields as Record<string, unknown> : {}
    throttle[level](`${kindPrefix}:${text}`, object instanceof Error ? { err: object } : object, text, log)
  }
  throttled.warn = through('warn') as FastifyBaseLogger['warn']
  throttled.error = through('error') as FastifyBaseLogger['error']
  return throttled
}
