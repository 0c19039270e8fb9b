import type { Worker } from 'node:cluster'
import { pickSlot } from './rendezvous-hash.js'
import { sendSocket, type Handoff } from './socket-handoff.js'

export interface SlotQueueLimits {
  /**
   * Most connections waiting for one slot while it has no worker taking
   * hand-offs (respawning, hung); beyond it new ones are closed.
   */
  maxWaiting: number
  /**
   * Most connections waiting behind a worker that is taking hand-offs. A
   * reconnect storm from one address (a NAT, a load balancer without PROXY
   * protocol) all hashes onto one slot and arrives faster than one worker
   * takes sockets; those clients are only slower to be served, not refused.
   */
  maxBacklog: number
  /**
   * Longest a connection waits while its slot's worker takes nothing (no
   * worker, or none acknowledged since it arrived) before it is closed.
   */
  maxWaitMs: number
  /**
   * How long a worker with hand-offs pending may go without acknowledging
   * one before it counts as stalled: from then on `maxWaiting` bounds its
   * queue (the excess, newest first, is closed) until it takes one again.
   * A working worker acknowledges within milliseconds.
   */
  stallMs: number
  /**
   * Most hand-offs sent to one worker and not yet taken by it (R58). Node
   * passes one socket at a time and queues the rest until the worker
   * acknowledges; a worker that stopped running would make that queue, and
   * the primary's descriptors, grow without end. Past it, connections wait
   * in the slot's bounded queue instead.
   */
  maxInFlight: number
}

const DEFAULT_QUEUE_LIMITS: SlotQueueLimits = { maxWaiting: 1024, maxBacklog: 16_384, maxWaitMs: 5000, stallMs: 1000, maxInFlight: 64 }

/** The worker serving a slot, with its hand-offs in flight. */
interface Lane {
  worker: Worker
  inFlight: number
  /** When the worker last took a hand-off, or last had none pending: how a working worker is told from a stuck one. */
  lastTaken: number
}

interface Waiting {
  handoff: Handoff
  since: number
}

interface Slot {
  id: number
  lane: Lane | null
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
    for (const id of ids) this.slots.set(id, { id, lane: null, waiting: [], timer: null })
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
    // Behind connections already waiting, a new one waits too: the order of arrival is kept.
    const lane = slot.waiting.length === 0 ? this.openLane(slot) : null
    if (lane !== null) this.send(slot, lane, handoff)
    else this.enqueue(slot, handoff)
  }

  /** The ready worker serving a slot, if any. */
  workerOf (slotId: number): Worker | null {
    return this.slots.get(slotId)?.lane?.worker ?? null
  }

  /** Hand-offs on their way to a slot's worker, and connections waiting for it (R58). */
  queueOf (slotId: number): { inFlight: number, waiting: number } {
    const slot = this.slots.get(slotId)
    return { inFlight: slot?.lane?.inFlight ?? 0, waiting: slot?.waiting.length ?? 0 }
  }

  /** Hand-offs on their way to workers, over all slots. */
  get inFlightCount (): number {
    let count = 0
    for (const slot of this.slots.values()) count += slot.lane?.inFlight ?? 0
    return count
  }

  /** Switches a slot to `worker` (null = none for now); queued connections go to it at once. */
  assign (slotId: number, worker: Worker | null): void {
    const slot = this.slots.get(slotId)
    if (slot === undefined) throw new RangeError(`unknown worker slot ${slotId}`)
    slot.lane = worker === null ? null : { worker, inFlight: 0, lastTaken: Date.now() }
    this.pump(slot)
  }

  /** Unassigns `worker` wherever it serves (it died or is leaving). Returns the slot id it had, or null. */
  release (worker: Worker): number | null {
    for (const slot of this.slots.values()) {
      if (slot.lane?.worker === worker) {
        slot.lane = null
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

  /** The slot's lane when it can take one more hand-off now. */
  private openLane (slot: Slot): Lane | null {
    const lane = slot.lane
    return lane !== null && lane.inFlight < this.limits.maxInFlight && lane.worker.isConnected() ? lane : null
  }

  private send (slot: Slot, lane: Lane, handoff: Handoff): void {
    // An idle worker's clock starts with its first pending hand-off, not with the last one it took long ago.
    if (lane.inFlight === 0) lane.lastTaken = Date.now()
    lane.inFlight++
    this.handedOff++
    sendSocket(lane.worker, handoff, () => {
      lane.inFlight--
      lane.lastTaken = Date.now()
      // A lane that was replaced meanwhile no longer feeds the slot.
      if (slot.lane === lane) this.pump(slot)
    }, (unsent) => this.deliver(slot.id, unsent))
  }

  /** Moves waiting connections to the slot's worker while it has room. */
  private pump (slot: Slot): void {
    let lane = this.openLane(slot)
    while (lane !== null && slot.waiting.length > 0) {
      this.send(slot, lane, (slot.waiting.shift() as Waiting).handoff)
      lane = this.openLane(slot)
    }
    if (slot.waiting.length === 0) this.clearTimer(slot)
  }

  /** True while the slot's worker takes hand-offs: its queue is a pace, not a stall. */
  private progressing (slot: Slot, now: number): boolean {
    const lane = slot.lane
    return lane !== null && lane.worker.isConnected() && (lane.inFlight === 0 || now - lane.lastTaken < this.limits.stallMs)
  }

  private enqueue (slot: Slot, handoff: Handoff): void {
    const cap = this.progressing(slot, Date.now()) ? this.limits.maxBacklog : this.limits.maxWaiting
    if (slot.waiting.length >= cap || handoff.socket.destroyed) {
      this.dropped++
      handoff.socket.destroy()
      return
    }
    slot.waiting.push({ handoff, since: Date.now() })
    if (slot.timer === null) this.schedule(slot)
  }

  /** When a waiting connection gives up: `maxWaitMs` after it arrived or after its worker last took one, whichever is later. */
  private expiryOf (slot: Slot, entry: Waiting): number {
    return Math.max(entry.since, slot.lane?.lastTaken ?? 0) + this.limits.maxWaitMs
  }

  // One timer per slot: expiry and stalls are checked in bulk, not per connection.
  private schedule (slot: Slot): void {
    const oldest = slot.waiting[0]
    if (oldest === undefined) return
    const now = Date.now()
    // Behind a worker that takes hand-offs, the next check is when it would count as stalled.
    const due = this.progressing(slot, now) ? (slot.lane as Lane).lastTaken + this.limits.stallMs : this.expiryOf(slot, oldest)
    slot.timer = setTimeout(() => {
      slot.timer = null
      const now = Date.now()
      if (!this.progressing(slot, now)) {
        while (slot.waiting.length > this.limits.maxWaiting) this.drop(slot.waiting.pop() as Waiting)
        while (slot.waiting.length > 0 && this.expiryOf(slot, slot.waiting[0] as Waiting) <= now) this.drop(slot.waiting.shift() as Waiting)
      }
      this.schedule(slot)
    }, Math.max(0, due - now))
  }

  private drop (entry: Waiting): void {
    this.dropped++
    entry.handoff.socket.destroy()
  }

  private clearTimer (slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer)
    slot.timer = null
  }
}
