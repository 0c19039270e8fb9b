import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { startDemo, type RunningDemo } from './helpers/demo-stack.js'

const CHROMIUM = '/usr/bin/chromium'
// The machine has no outside network: every background fetch of Chromium's is switched off.
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const artifacts = fileURLToPath(new URL('../../test/artifacts/', import.meta.url))
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`

async function join (page: Page, url: string, name: string): Promise<void> {
  await page.goto(url)
  assert.equal(await page.locator('#composer').isVisible(), false, 'no composer before joining')
  await page.fill('#name', name)
  await page.click('#join-form button')
  await page.locator('#conn-state[data-state="open"]').waitFor()
}

async function say (page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.click('#composer button')
}

async function sees (page: Page, text: string): Promise<void> {
  await page.locator('#messages .bubble', { hasText: text }).waitFor()
}

/**
 * Records every state the connection badge goes through, so a short-lived
 * "reconnecting" is not missed. Plain strings: the test build has no DOM types.
 */
async function recordStates (page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const badge = document.getElementById('conn-state')
    window.seenStates = []
    new MutationObserver(() => window.seenStates.push(badge.dataset.state)).observe(badge, { attributes: true })
  })()`)
}

async function statesSeen (page: Page): Promise<string[]> {
  return await page.evaluate('window.seenStates') as string[]
}

test('R26 R28 R30 two browsers chat through ws-cluster; killing their backend shows the drop, the pages reconnect to the other backend and chat goes on',
  { skip, timeout: 240_000 }, async () => {
    const baseline = openFdCount()
    let demo: RunningDemo | null = null
    let browser: Browser | null = null
    try {
      demo = await startDemo(['--workers', '2', '--backends', '2'])
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
      const viewport = { width: 1080, height: 680 }
      const ada = await (await browser.newContext({ viewport })).newPage()
      const bob = await (await browser.newContext({ viewport })).newPage()
      await join(ada, demo.ready.url, 'Ada')
      await join(bob, demo.ready.url, 'Bob')

      // The status panel shows what the server reported about this very connection.
      const names = demo.ready.backends.map((b) => b.name)
      const first = await ada.locator('#backend').getAttribute('data-backend')
      assert.ok(first !== null && names.includes(first), `the page names one of ${names.join(', ')}, got ${first}`)
      assert.match(await ada.locator('#proxy-worker').innerText(), /^worker \S+ · pid \d+$/)
      assert.equal(await ada.locator('#client-ip').innerText(), '127.0.0.1', 'X-Real-IP as the backend saw it (R30)')
      await ada.locator('#rtt', { hasText: / ms$/ }).waitFor()
      // ip-hash keys on the first three octets: both pages come from 127.0.0.1, so one backend serves both (R26).
      assert.equal(await bob.locator('#backend').getAttribute('data-backend'), first)

      await say(ada, 'Hello from Ada')
      await sees(bob, 'Hello from Ada')
      await say(bob, 'Hi Ada, Bob here')
      await sees(ada, 'Hi Ada, Bob here')
      mkdirSync(artifacts, { recursive: true })
      await ada.screenshot({ path: `${artifacts}demo.png` })

      await recordStates(ada)
      const victim = demo.ready.backends.find((b) => b.name === first)
      assert.ok(victim !== undefined)
      process.kill(victim.pid, 'SIGKILL')

      await ada.locator('#events li', { hasText: 'connection lost' }).first().waitFor()
      await ada.locator('#events li', { hasText: /retry 1 in \d/ }).first().waitFor()
      // The reconnect lands on the surviving backend: the dead one is skipped before any 101 (R28).
      await ada.locator(`#backend:not([data-backend="${first}"])`).waitFor()
      await ada.locator('#conn-state[data-state="open"]').waitFor()
      await bob.locator(`#backend:not([data-backend="${first}"])`).waitFor()
      await bob.locator('#conn-state[data-state="open"]').waitFor()
      const states = await statesSeen(ada)
      assert.ok(states.includes('reconnecting'), `the badge showed the drop: ${states.join(' → ')}`)
      assert.equal(states.at(-1), 'open')
      assert.notEqual(await ada.locator('#reconnects').innerText(), '0')

      await say(ada, 'Still here after the failover')
      await sees(bob, 'Still here after the failover')
      await say(bob, 'Me too')
      await sees(ada, 'Me too')
      await ada.screenshot({ path: `${artifacts}demo-failover.png` })
    } finally {
      await browser?.close()
      if (demo !== null) {
        demo.child.kill('SIGTERM')
        const exit = await demo.exited
        assert.equal(exit.code, 0, `the demo stops cleanly; output:\n${demo.output()}`)
      }
    }
    await assertNoFdLeak(baseline)
  })
