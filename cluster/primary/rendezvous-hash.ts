/*
 * Rendezvous (highest random weight) hashing: every slot gets a score for a
 * key and the highest score wins. Unlike `hash mod n`, removing a slot moves
 * only the keys that were on it, and a replacement worker that takes over the
 * same slot id gets exactly the same clients back (R41).
 *
 * The score is FNV-1a over the key, mixed with the slot id and finished with
 * MurmurHash3's fmix32 avalanche step. That is a handful of integer
 * multiplications per slot — the primary computes it for every accepted
 * connection, so a cryptographic hash would be wasted work; keys are client
 * addresses, not secrets, and nothing here needs resistance to crafted input
 * beyond an even spread.
 */

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193
const GOLDEN = 0x9e3779b9

/** MurmurHash3's 32-bit finalizer: a bijection in which every input bit affects every output bit. */
function fmix32 (input: number): number {
  let h = input
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * FNV-1a over the UTF-16 code units of `key` (client addresses are ASCII, so
 * this equals hashing their bytes), then fmix32 because FNV alone mixes the
 * last characters poorly — and addresses often differ only there.
 */
export function hashKey32 (key: string): number {
  let h = FNV_OFFSET
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, FNV_PRIME)
  }
  return fmix32(h)
}

/**
 * The score of `slotId` for a key whose {@link hashKey32} is `keyHash`.
 * fmix32 is a bijection, so two slots never tie for the same key.
 */
function slotScore (keyHash: number, slotId: number): number {
  return fmix32((keyHash ^ fmix32(Math.imul(slotId + 1, GOLDEN))) >>> 0)
}

/**
 * Picks the slot for `key` among `slotIds` (stable ids, not array
 * positions): the slot with the highest score. Throws a RangeError when
 * there is no slot.
 *
 * @example
 * const slot = pickSlot(clientAddress, [0, 1, 2, 3])
 * workers.get(slot).send('connection', socket)
 */
export function pickSlot (key: string, slotIds: readonly number[]): number {
  if (slotIds.length === 0) throw new RangeError('pickSlot: no slots to choose from')
  const keyHash = hashKey32(key)
  let best = slotIds[0]
  let bestScore = slotScore(keyHash, best)
  for (let i = 1; i < slotIds.length; i++) {
    const score = slotScore(keyHash, slotIds[i])
    // Equal scores only happen for a repeated slot id; the lower id wins for determinism.
    if (score > bestScore || (score === bestScore && slotIds[i] < best)) {
      best = slotIds[i]
      bestScore = score
    }
  }
  return best
}
