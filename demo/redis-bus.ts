import { Redis } from 'ioredis'
import { isRoomEvent, type RoomEvent } from './chat-protocol.js'
import type { MessageBus } from './chat-room.js'

export const REDIS_CHANNEL = 'ws-cluster-demo:room'

export interface RedisBusOptions {
  url: string
  deliver: (event: RoomEvent) => void
  log: (line: string) => void
}

/**
 * Cross-backend delivery over Redis pub/sub: every backend publishes the
 * events it creates on one channel and delivers what it receives from that
 * channel — its own events included — so all backends see one order. A
 * subscribed connection cannot publish, hence two connections.
 *
 * Fails fast when Redis cannot be reached at start (a demo that silently
 * loses messages would be worse than one that says REDIS_URL is wrong);
 * afterwards ioredis reconnects on its own.
 *
 * @example
 * const bus = await createRedisBus({ url: 'redis://127.0.0.1:6379', deliver: e => room.deliver(e), log: console.log })
 * bus.publish(event)
 */
export async function createRedisBus (options: RedisBusOptions): Promise<MessageBus> {
  let started = false
  let lastError = ''
  const redisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 3000,
    // No retries before the first success, so a wrong REDIS_URL is reported at once.
    retryStrategy: (times: number) => started ? Math.min(times * 200, 2000) : null
  }
  const pub = new Redis(options.url, redisOptions)
  const sub = new Redis(options.url, redisOptions)
  for (const client of [pub, sub]) {
    client.on('error', (err: Error) => {
      // ioredis reports every failed reconnect; one line per error kind is enough for a demo.
      if (started && err.message !== lastError) options.log(`redis: ${err.message}`)
      lastError = err.message
    })
  }
  try {
    await Promise.all([pub.connect(), sub.connect()])
    await sub.subscribe(REDIS_CHANNEL)
    started = true
  } catch (err) {
    pub.disconnect()
    sub.disconnect()
    throw new Error(`cannot use Redis at REDIS_URL=${options.url}: ${lastError !== '' ? lastError : (err as Error).message}`)
  }
  sub.on('message', (_channel: string, payload: string) => {
    let event: unknown
    try {
      event = JSON.parse(payload)
    } catch {
      return
    }
    if (isRoomEvent(event)) options.deliver(event)
  })

  return {
    kind: 'redis',
    publish (event: RoomEvent): void {
      pub.publish(REDIS_CHANNEL, JSON.stringify(event)).catch((err: Error) => {
        options.log(`redis publish failed: ${err.message}`)
      })
    },
    async close (): Promise<void> {
      await Promise.allSettled([sub.quit(), pub.quit()])
      pub.disconnect()
      sub.disconnect()
    }
  }
}
