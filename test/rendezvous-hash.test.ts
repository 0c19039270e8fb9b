import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { hashKey32, pickSlot } from '../cluster/primary/rendezvous-hash.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// R38: these tests open nothing; the file-wide check proves it.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

const KEY_COUNT = 10_000

/** Client addresses as a busy site sees them: dense IPv4 ranges (which differ only in the last bytes) and IPv6. */
function clientKeys (): string[] {
  const keys: string[] = []
  for (let i = 0; i < KEY_COUNT; i++) {
    keys.push(i % 4 === 3 ? `2001:db8::${i.toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  }
  return keys
}

function assignments (keys: string[], slots: readonly number[]): Map<string, number> {
  return new Map(keys.map(k => [k, pickSlot(k, slots)]))
}

test('R33 R41 same key → same slot, whatever the order of the slot ids', () => {
  const keys = clientKeys()
  const slots = [0, 1, 2, 3, 4, 5]
  const reversed = [...slots].reverse()
  for (const key of keys.slice(0, 2000)) {
    const slot = pickSlot(key, slots)
    assert.ok(slots.includes(slot))
    assert.equal(pickSlot(key, slots), slot)
    assert.equal(pickSlot(key, reversed), slot)
  }
})

test('R41 removing a slot moves only the keys that were on it', () => {
  const keys = clientKeys()
  const all = [0, 1, 2, 3, 4, 5, 6, 7]
  const without3 = all.filter(s => s !== 3)
  const before = assignments(keys, all)
  const next = assignments(keys, without3)
  const movedTo = new Map<number, number>()
  let onRemoved = 0
  for (const key of keys) {
    if (before.get(key) === 3) {
      onRemoved++
      const target = next.get(key) as number
      movedTo.set(target, (movedTo.get(target) ?? 0) + 1)
    } else {
      assert.equal(next.get(key), before.get(key), `${key} moved although its slot stayed`)
    }
  }
  assert.ok(onRemoved > 0)
  // The removed slot's keys spread over all the remaining slots rather than piling onto one.
  assert.equal(movedTo.size, without3.length)
  for (const count of movedTo.values()) assert.ok(count < onRemoved / 2, `${count} of ${onRemoved} moved keys went to one slot`)
})

test('R41 a replaced worker keeps its stable slot id and so gets exactly its clients back', () => {
  const keys = clientKeys()
  const slots = [0, 1, 2, 3]
  const before = assignments(keys, slots)
  // The slot list while slot 2 is respawning, then with it back.
  const during = assignments(keys, [0, 1, 3])
  const next = assignments(keys, [0, 1, 3, 2])
  assert.deepEqual(next, before)
  for (const key of keys) if (before.get(key) !== 2) assert.equal(during.get(key), before.get(key))
})

test('R33 adding a slot moves about 1/(n+1) of the keys, all to the new slot', () => {
  const keys = clientKeys()
  for (const n of [2, 4, 8]) {
    const slots = Array.from({ length: n }, (_, i) => i)
    const before = assignments(keys, slots)
    const next = assignments(keys, [...slots, n])
    let moved = 0
    for (const key of keys) {
      if (next.get(key) === before.get(key)) continue
      moved++
      assert.equal(next.get(key), n, `${key} moved between two old slots`)
    }
    const expected = KEY_COUNT / (n + 1)
    assert.ok(moved > expected * 0.8 && moved < expected * 1.2, `${moved} keys moved for ${n}→${n + 1} slots, expected about ${expected}`)
  }
})

test('R33 10,000 client addresses spread evenly over 2, 4 and 8 slots', () => {
  const keys = clientKeys()
  for (const n of [2, 4, 8]) {
    const counts = new Array<number>(n).fill(0)
    const slots = counts.map((_, i) => i)
    for (const key of keys) counts[pickSlot(key, slots)]++
    const mean = KEY_COUNT / n
    for (const count of counts) {
      // ±10 % is more than five standard deviations for n = 8; a weak hash on dense ranges fails it.
      assert.ok(Math.abs(count - mean) < mean * 0.1, `slot counts ${counts.join(', ')} for ${n} slots`)
    }
  }
})

test('R41 slot ids need not be contiguous; an empty slot list is an error', () => {
  const keys = clientKeys().slice(0, 3000)
  const slots = [7, 19, 1000]
  const seen = new Set(keys.map(k => pickSlot(k, slots)))
  assert.deepEqual([...seen].sort((a, b) => a - b), slots)
  assert.throws(() => pickSlot('10.0.0.1', []), RangeError)
})

test('R33 the key hash is a 32-bit value whose bits are spread for near-identical addresses', () => {
  const hashes = clientKeys().map(hashKey32)
  assert.equal(new Set(hashes).size, KEY_COUNT, 'distinct addresses collided')
  for (const h of hashes) assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32)
  // Each output bit is set for about half of the keys, even though the keys differ only in their last bytes.
  for (let bit = 0; bit < 32; bit++) {
    const ones = hashes.filter(h => ((h >>> bit) & 1) === 1).length
    assert.ok(ones > KEY_COUNT * 0.45 && ones < KEY_COUNT * 0.55, `bit ${bit} set in ${ones} of ${KEY_COUNT}`)
  }
})
