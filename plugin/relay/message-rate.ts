/**
 * A client's message rate limit (`relay.rateLimit`): a token bucket holding
 * up to `messages` tokens and refilled at `messages` per `per` ms, so a burst
 * of `messages` is fine and a sustained rate above `messages`/`per` is not.
 * One per connection; refilled lazily when a message arrives, so it costs no
 * timer.
 *
 * @example
 * const rate = new MessageRate(100, 1000)
 * if (!rate.take(Date.now())) closeWith(1008)
 */
export class MessageRate {
  private tokens: number
  private last: number

  constructor (private readonly messages: number, private readonly per: number, now = Date.now()) {
    this.tokens = messages
    this.last = now
  }

  /** Counts one message at `now`; false when it is over the limit. */
  take (now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.messages, this.tokens + (now - this.last) * this.messages / this.per)
      this.last = now
    }
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
