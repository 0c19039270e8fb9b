import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as ws from 'ws'
import { FrameBoundary } from '../plugin/tunnel/frame-boundary.js'

// R97: the tunnel finds frame boundaries by reading headers only. Frames are
// built by `ws`'s own Sender, an encoder independent of the tracker.

interface FrameOptions { fin: boolean, opcode: number, mask: boolean, rsv1?: boolean }
const { Sender } = ws as unknown as {
  Sender: { frame: (data: Buffer, options: FrameOptions & { readOnly: boolean, rsv1: boolean }) => Buffer[] }
}

function frame (size: number, options: FrameOptions): Buffer {
  return Buffer.concat(Sender.frame(Buffer.alloc(size, 0x61), { readOnly: false, rsv1: false, ...options }))
}

/** A stream of frames and the offset after each one (every frame boundary but 0). */
function stream (frames: Buffer[]): { bytes: Buffer, ends: Set<number> } {
  const ends = new Set<number>([0])
  let at = 0
  for (const f of frames) ends.add(at += f.length)
  return { bytes: Buffer.concat(frames), ends }
}

/** 7-bit, 16-bit and 64-bit lengths, empty frames, and control frames between the fragments of a message. */
function mixedFrames (mask: boolean): Buffer[] {
  return [
    frame(0, { fin: true, opcode: 1, mask }),
    frame(5, { fin: true, opcode: 2, mask }),
    frame(125, { fin: true, opcode: 1, mask }),
    frame(126, { fin: true, opcode: 2, mask }),
    frame(65_535, { fin: true, opcode: 2, mask }),
    frame(65_536, { fin: true, opcode: 2, mask }),
    frame(300, { fin: false, opcode: 1, mask, rsv1: true }),
    frame(4, { fin: true, opcode: 9, mask }),
    frame(200, { fin: false, opcode: 0, mask }),
    frame(0, { fin: true, opcode: 10, mask }),
    frame(70_000, { fin: true, opcode: 0, mask }),
    frame(2, { fin: true, opcode: 8, mask })
  ]
}

for (const mask of [false, true]) {
  const side = mask ? 'masked (client to upstream)' : 'unmasked (upstream to client)'

  test(`R97 frame boundaries, ${side}: split into two chunks at every byte position, the tracker knows whether the split is a boundary and finds the next one`, () => {
    const { bytes, ends } = stream(mixedFrames(mask))
    const sorted = [...ends].sort((a, b) => a - b)
    for (let split = 0; split <= bytes.length; split++) {
      const tracker = new FrameBoundary()
      tracker.skip(bytes.subarray(0, split))
      assert.equal(tracker.atBoundary, ends.has(split), `at ${split}`)
      const next = sorted.find(end => end >= split) as number
      const found = tracker.toBoundary(bytes.subarray(split))
      assert.equal(found, next - split, `next boundary after ${split}`)
    }
  })

  test(`R97 frame boundaries, ${side}: fed one byte at a time (every header split at every byte), boundaries and close frames are exact`, () => {
    const { bytes, ends } = stream(mixedFrames(mask))
    const tracker = new FrameBoundary()
    for (let i = 0; i < bytes.length; i++) {
      tracker.skip(bytes.subarray(i, i + 1))
      assert.equal(tracker.atBoundary, ends.has(i + 1), `after byte ${i}`)
    }
    assert.equal(tracker.closeFrames, 1)
  })
}

test('R97 frame boundaries: toBoundary walks a chunk of many frames one boundary at a time', () => {
  const frames = mixedFrames(true)
  const { bytes, ends } = stream(frames)
  const tracker = new FrameBoundary()
  const seen: number[] = []
  let at = 0
  while (at < bytes.length) {
    const boundary = tracker.toBoundary(bytes, at)
    assert.notEqual(boundary, -1)
    seen.push(boundary)
    if (boundary === bytes.length) break
    // Step over one header byte to move on to the next frame.
    tracker.skip(bytes.subarray(boundary, boundary + 1))
    at = boundary + 1
  }
  assert.deepEqual(seen, [...ends].sort((a, b) => a - b))
})

test('R97 frame boundaries: a 64-bit length above 2^32 is followed exactly; a chunk ending inside a frame gives -1', () => {
  const length = 2 ** 32 + 3
  const header = Buffer.from([0x82, 0x7f, 0, 0, 0, 1, 0, 0, 0, 3])
  const tracker = new FrameBoundary()
  tracker.skip(header)
  assert.equal(tracker.atBoundary, false)
  const mib = Buffer.alloc(1024 * 1024)
  for (let sent = 0; sent < length - 3; sent += mib.length) tracker.skip(mib)
  assert.equal(tracker.toBoundary(Buffer.alloc(2)), -1)
  assert.equal(tracker.atBoundary, false)
  const next = Buffer.concat([Buffer.alloc(1), Buffer.from([0x89, 0x00])])
  assert.equal(tracker.toBoundary(next), 1, 'the frame ends after its last payload byte')
  assert.equal(tracker.atBoundary, true)
  tracker.skip(next.subarray(1))
  assert.equal(tracker.atBoundary, true, 'an empty ping is a whole frame')
  assert.equal(tracker.closeFrames, 0)
})
