import { ConnectionRateLimiter } from '../../plugin/connection-rate.js'
import { startEchoBackend } from '../helpers/backends.js'
import { openFdCount } from '../helpers/fd-leak.js'
import { startProxy, statusOf, type ProxyUnderTest } from '../helpers/plugin-harness.js'
import { RawClient, requestHead } from '../helpers/raw-http.js'
import { closeWs, echoOnce, openWs } from '../helpers/ws-clients.js'

/*
 * The heavier variants of the abuse suite (`npm run soak`, never part of
 * `npm test`): the same attacks at volumes that take a minute, each reporting
 * figures instead of asserting timings. Every scenario still checks that
 * descriptors come back and that nothing but the attacker was refused.
 */

/** One scenario's outcome: figures for the README table, and whether its invariants held. */
export interface SoakResult {
  name: string
  figures: Record<string, string | number>
  ok: boolean
  problems: string[]
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function withEchoProxy (limits: Record<string, unknown>, run: (proxy: ProxyUnderTest) => Promise<SoakResult>): Promise<SoakResult> {
  const backend = await startEchoBackend()
  const proxy = await startProxy({ upstreams: { b: { servers: [backend.url] } }, routes: [{ path: '/ws', upstream: 'b' }], limits })
  try {
    return await run(proxy)
  } finally {
    await proxy.close()
    await backend.close()
  }
}

/** Slowloris at scale: `slow` clients trickling heads for `seconds` while normal clients keep opening tunnels. */
export async function slowClients (slow: number, seconds: number): Promise<SoakResult> {
  const fdsBefore = openFdCount()
  const result = await withEchoProxy({ maxConnectionsPerIp: slow + 100 }, async (proxy) => {
    const clients: RawClient[] = []
    for (let i = 0; i < slow; i += 250) {
      const batch = await Promise.all(Array.from({ length: Math.min(250, slow - i) }, async (_, j) =>
        await RawClient.open(proxy.port, { localAddress: `127.2.${Math.floor((i + j) / 250)}.${1 + ((i + j) % 250)}` })))
      for (const client of batch) client.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
      clients.push(...batch)
    }
    const drip = setInterval(() => { for (const client of clients) if (!client.closed) client.write('a') }, 500)
    const latencies: number[] = []
    let failures = 0
    const until = Date.now() + seconds * 1000
    while (Date.now() < until) {
      const started = Date.now()
      try {
        const ws = await openWs(`${proxy.wsBase}/ws`, [], { localAddress: '127.3.0.1', timeoutMs: 10_000 })
        latencies.push(Date.now() - started)
        await echoOnce(ws, 'normal')
        await closeWs(ws)
      } catch {
        failures++
      }
    }
    clearInterval(drip)
    const reading = proxy.app.wsProxy.stats().connections.reading
    for (const client of clients) await client.destroy()
    latencies.sort((a, b) => a - b)
    const problems = failures > 0 ? [`${failures} normal clients failed`] : []
    if (reading !== slow) problems.push(`${reading} slow clients still reading, expected ${slow}`)
    return {
      name: `${slow} slow clients, ${seconds} s`,
      figures: { 'normal tunnels served': latencies.length, 'handshake p50 ms': percentile(latencies, 0.5), 'p99 ms': percentile(latencies, 0.99), 'max ms': latencies.at(-1) ?? 0, failures },
      ok: problems.length === 0,
      problems
    }
  })
  return await withFds(result, fdsBefore)
}

/** Header floods: `requests` oversized heads over `parallel` connections at a time; all must get 431. */
export async function headerFlood (requests: number, parallel: number): Promise<SoakResult> {
  const fdsBefore = openFdCount()
  const result = await withEchoProxy({}, async (proxy) => {
    const head = requestHead({ path: '/ws', headers: Array.from({ length: 2000 }, (_, i) => `X-Flood-${i}: ${'v'.repeat(8)}`) })
    let other = 0
    const started = Date.now()
    for (let done = 0; done < requests; done += parallel) {
      const answers = await Promise.all(Array.from({ length: Math.min(parallel, requests - done) }, async () => {
        const client = await RawClient.open(proxy.port)
        client.write(head)
        const bytes = await client.untilClosed(10_000).catch(() => Buffer.alloc(0))
        await client.destroy()
        return statusOf(bytes.toString('latin1'))
      }))
      other += answers.filter(status => status !== 431).length
    }
    const seconds = (Date.now() - started) / 1000
    return {
      name: `${requests} header floods (${Math.round(head.length / 1024)} KiB heads)`,
      figures: { 'answered 431 per s': Math.round((requests - other) / seconds), 'other answers': other },
      ok: other === 0,
      problems: other === 0 ? [] : [`${other} floods did not get 431`]
    }
  })
  return await withFds(result, fdsBefore)
}

/** Upgrade floods from `addresses` distinct clients past a tight connectionRate: counted, refused with 429, logged little. */
export async function rateFlood (addresses: number, perAddress: number): Promise<SoakResult> {
  const fdsBefore = openFdCount()
  const result = await withEchoProxy({ connectionRate: { perSecond: 1, burst: 2 } }, async (proxy) => {
    let served = 0
    let limited = 0
    let other = 0
    const started = Date.now()
    for (let a = 0; a < addresses; a += 50) {
      await Promise.all(Array.from({ length: Math.min(50, addresses - a) }, async (_, j) => {
        const localAddress = `127.4.${Math.floor((a + j) / 250)}.${1 + ((a + j) % 250)}`
        for (let k = 0; k < perAddress; k++) {
          const client = await RawClient.open(proxy.port, { localAddress })
          client.write(requestHead({ path: '/ws' }))
          const status = (await client.head(10_000).catch(() => ({ statusCode: 0 }))).statusCode
          await client.destroy()
          if (status === 101) served++
          else if (status === 429) limited++
          else other++
        }
      }))
    }
    const seconds = (Date.now() - started) / 1000
    const stats = proxy.app.wsProxy.stats().connections
    const warnings = proxy.logs.filter(line => Number(line.level) >= 40).length
    const problems: string[] = []
    if (other > 0) problems.push(`${other} upgrades got neither 101 nor 429`)
    if (stats.rateLimited !== limited) problems.push(`rateLimited ${stats.rateLimited}, clients saw ${limited}`)
    return {
      name: `${addresses * perAddress} upgrades from ${addresses} clients (1/s, burst 2)`,
      figures: { served, 'refused 429': limited, 'upgrades per s': Math.round((served + limited) / seconds), 'clients tracked': stats.rateTracked, 'warning lines': warnings },
      ok: problems.length === 0,
      problems
    }
  })
  return await withFds(result, fdsBefore)
}

/** The rate limiter's memory with `keys` distinct clients (no sockets): bounded by MAX_TRACKED_CLIENTS. */
export async function rateMemory (keys: number): Promise<SoakResult> {
  globalThis.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const rate = new ConnectionRateLimiter({ perSecond: 1, burst: 5 })
  const started = Date.now()
  for (let i = 0; i < keys; i++) rate.take(`2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`)
  const elapsed = Date.now() - started
  globalThis.gc?.()
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
  const tracked = rate.tracked
  rate.stop()
  await sleep(10)
  return {
    name: `${keys.toLocaleString('en')} distinct clients through the rate limiter`,
    figures: { 'clients tracked': tracked, 'heap MiB': Math.round(heapMiB * 10) / 10, 'ns per upgrade': Math.round(elapsed * 1e6 / keys) },
    ok: tracked <= 100_000,
    problems: tracked <= 100_000 ? [] : [`${tracked} clients tracked`]
  }
}

/** Opens and closes one tunnel, so descriptors Node opens once per process (thread pool, DNS) are not counted as leaks. */
export async function warmUp (): Promise<void> {
  await withEchoProxy({}, async (proxy) => {
    const ws = await openWs(`${proxy.wsBase}/ws`)
    await echoOnce(ws, 'warm')
    await closeWs(ws)
    return { name: 'warm-up', figures: {}, ok: true, problems: [] }
  })
}

async function withFds (result: SoakResult, before: number): Promise<SoakResult> {
  const deadline = Date.now() + 10_000
  while (openFdCount() > before && Date.now() < deadline) await sleep(50)
  const after = openFdCount()
  result.figures['fds back'] = after <= before ? 'yes' : `no (+${after - before})`
  if (after > before) {
    result.ok = false
    result.problems.push(`${after - before} descriptors leaked`)
  }
  return result
}
