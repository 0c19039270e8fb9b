import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { LOOPBACK_PROXIES, createTrustChecker, trustEntryProblem } from '../cluster/config/trusted-proxies.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// R38: these tests open nothing; the file-wide check proves it.
const fileBaseline = openFdCount()
after(() => assertNoFdLeak(fileBaseline))

test('R32 trusted proxies: IPv4 addresses and CIDR ranges', () => {
  const isTrusted = createTrustChecker(['10.0.0.0/8', '192.0.2.7', '198.51.100.0/31'])
  assert.equal(isTrusted('10.255.1.2'), true)
  assert.equal(isTrusted('11.0.0.1'), false)
  assert.equal(isTrusted('192.0.2.7'), true)
  assert.equal(isTrusted('192.0.2.8'), false)
  assert.equal(isTrusted('198.51.100.1'), true)
  assert.equal(isTrusted('198.51.100.2'), false)
})

test('R32 trusted proxies: IPv6 addresses and ranges, in any spelling', () => {
  const isTrusted = createTrustChecker(['fd00::/8', '2001:db8::1'])
  assert.equal(isTrusted('fd12:3456::1'), true)
  assert.equal(isTrusted('fe80::1'), false)
  assert.equal(isTrusted('2001:DB8:0:0:0:0:0:1'), true)
  assert.equal(isTrusted('2001:db8::2'), false)
})

test('R32 R33 trusted proxies: IPv4-mapped IPv6 peers match IPv4 entries and the other way round', () => {
  const isTrusted = createTrustChecker(['127.0.0.0/8', '::ffff:192.0.2.9'])
  assert.equal(isTrusted('::ffff:127.0.0.1'), true)
  assert.equal(isTrusted('::FFFF:127.9.9.9'), true)
  assert.equal(isTrusted('::ffff:128.0.0.1'), false)
  assert.equal(isTrusted('192.0.2.9'), true)
  assert.equal(isTrusted('::ffff:192.0.2.9'), true)
})

test('R32 trusted proxies: nobody is trusted by an empty list; unparseable peers are never trusted', () => {
  const none = createTrustChecker([])
  for (const peer of ['127.0.0.1', '::1', '10.0.0.1']) assert.equal(none(peer), false)
  const all = createTrustChecker(['0.0.0.0/0', '::/0'])
  assert.equal(all('203.0.113.1'), true)
  assert.equal(all('2001:db8::9'), true)
  for (const peer of ['', 'localhost', '1.2.3', '::ffff:', '10.0.0.1/8', undefined as unknown as string]) {
    assert.equal(all(peer), false, String(peer))
  }
})

test('R32 trusted proxies: the loopback default trusts only this host', () => {
  const isTrusted = createTrustChecker([...LOOPBACK_PROXIES])
  assert.equal(isTrusted('127.0.0.1'), true)
  assert.equal(isTrusted('127.1.2.3'), true)
  assert.equal(isTrusted('::1'), true)
  assert.equal(isTrusted('::ffff:127.0.0.1'), true)
  assert.equal(isTrusted('10.0.0.1'), false)
  assert.equal(isTrusted('::2'), false)
})

test('R32 trusted proxies: invalid entries are refused with the entry and what is allowed', () => {
  assert.equal(trustEntryProblem('10.0.0.0/8'), null)
  assert.equal(trustEntryProblem('::1'), null)
  assert.match(trustEntryProblem('10.0.0.0/33') ?? '', /^"10\.0\.0\.0\/33": prefix length "33" is not an integer from 0 to 32; allowed: an IP address or a CIDR range/)
  assert.match(trustEntryProblem('fd00::/08') ?? '', /prefix length "08"/)
  assert.match(trustEntryProblem('fd00::/') ?? '', /prefix length ""/)
  assert.match(trustEntryProblem('example.com') ?? '', /"example\.com": not an IPv4 or IPv6 address/)
  assert.match(trustEntryProblem('300.0.0.0/8') ?? '', /"300\.0\.0\.0" is not an IPv4 or IPv6 address/)
  assert.match(trustEntryProblem(17) ?? '', /must be a string/)
  assert.throws(() => createTrustChecker(['10.0.0.0/8', 'nope']), { name: 'TypeError', message: /Invalid trusted proxy "nope": not an IPv4 or IPv6 address/ })
})
