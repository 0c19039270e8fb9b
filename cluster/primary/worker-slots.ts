import type { Worker } from 'node:cluster'
import { pickSlot } from './rendezvous-hash.js'
import { sendSocket, type Handoff } from './socket-handoff.js'

export interface SlotQueueLimits {
  /** Most connections waiting for one slot's worker; beyond it new ones are closed. */
  maxWaiting: number
  /** Longest a connection waits for a slot's worker before it is closed. */
  maxWaitMs: number
}

const DEFAULT_QUEUE_LIMITS: SlotQueueLimits = { maxWaiting: 1024, maxWaitMs: 5000 }

interface Waiting {
  handoff: Handoff
  since: number
}

interface Slot {
  id: number
  worker: Worker | null
  waiting: Waiting[]
  timer: NodeJS.Timeout | null
}

/**
 * The sticky routing table of the primary: stable slot ids, each served by at
 * most one ready worker. Clients are hashed onto slots with rendezvous
 * hashing, so when a slot's worker is replaced (crash, reload) the clients of
 * every other slot stay where they are; meanwhile that slot's new connections
 * wait in a small bounded queue instead of moving (R41).
 *
 * @example
 * const slots = new WorkerSlots([0, 1])
 * slots.assign(0, worker)
 * slots.route('203.0.113.7', { socket, clientAddress: null, head: null })
 */
export class WorkerSlots {
  readonly ids: readonly number[]
  private readonly slots = new Map<number, Slot>()
  private readonly limits: SlotQueueLimits
  /** Connections closed because their slot had no worker in time or its queue was full. */
  dropped = 0
  /** Connections sent to a worker. */
  handedOff = 0

  constructor (ids: readonly number[], limits: SlotQueueLimits = DEFAULT_QUEUE_LIMITS) {
    this.ids = Object.freeze([...ids])
    this.limits = limits
    for (const id of ids) this.slots.set(id, { id, worker: null, waiting: [], timer: null })
  }

  /** Hands the connection to the worker of the key's slot, or queues it until that slot has one. */
  route (key: string, handoff: Handoff): void {
    this.deliver(pickSlot(key, this.ids), handoff)
  }

  deliver (slotId: number, handoff: Handoff): void {
    const slot = this.slots.get(slotId)
    if (slot === undefined) {
      handoff.socket.destroy()
      return
    }
    if (slot.worker !== null && slot.worker.isConnected()) {
      this.handedOff++
      sendSocket(slot.worker, handoff, (unsent) => this.deliver(slotId, unsent))
      return
    }
    this.enqueue(slot, handoff)
  }

  /** The ready worker serving a slot, if any. */
  workerOf (slotId: number): Worker | null {
    return this.slots.get(slotId)?.worker ?? null
  }

  /** Switches a slot to `worker` (null = none for now); queued connections go to it at once. */
  assign (slotId: number, worker: Worker | null): void {
    const slot = this.slots.get(slotId)
    if (slot === undefined) throw new RangeError(`unknown worker slot ${slotId}`)
    slot.worker = worker
    if (worker === null || slot.waiting.length === 0) return
    const waiting = slot.waiting
    slot.waiting = []
    this.clearTimer(slot)
    for (const entry of waiting) this.deliver(slotId, entry.handoff)
  }

  /** Unassigns `worker` wherever it serves (it died or is leaving). Returns the slot id it had, or null. */
  release (worker: Worker): number | null {
    for (const slot of this.slots.values()) {
      if (slot.worker === worker) {
        slot.worker = null
        return slot.id
      }
    }
    return null
  }

  /** Connections waiting for a worker, over all slots. */
  get waitingCount (): number {
    let count = 0
    for (const slot of this.slots.values()) count += slot.waiting.length
    return count
  }

  /** Closes every queued connection (shutdown). */
  closeWaiting (): void {
    for (const slot of this.slots.values()) {
      this.clearTimer(slot)
      for (const entry of slot.waiting) entry.handoff.socket.destroy()
      this.dropped += slot.waiting.length
      slot.waiting = []
    }
  }

  private enqueue (slot: Slot, handoff: Handoff): void {
    if (slot.waiting.length >= this.limits.maxWaiting || handoff.socket.destroyed) {
      this.dropped++
      handoff.socket.destroy()
      return
    }
    slot.waiting.push({ handoff, since: Date.now() })
    if (slot.timer === null) this.schedule(slot)
  }

  // One timer per slot, set for the oldest waiter: expiry is checked in bulk, not per connection.
  private schedule (slot: Slot): void {
    const oldest = slot.waiting[0]
    if (oldest === undefined) return
    const delay = Math.max(0, oldest.since + this.limits.maxWaitMs - Date.now())
    slot.timer = setTimeout(() => {
      slot.timer = null
      const now = Date.now()
      while (slot.waiting.length > 0 && (slot.waiting[0] as Waiting).since + this.limits.maxWaitMs <= now) {
        const expired = slot.waiting.shift() as Waiting
        this.dropped++
        expired.handoff.socket.destroy()
      }
      this.schedule(slot)
    }, delay)
  }

  private clearTimer (slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer)
    slot.timer = null
  }
}
