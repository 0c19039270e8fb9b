import { headerFlood, rateFlood, rateMemory, slowClients, warmUp, type SoakResult } from './soak-scenarios.js'

/*
 * `npm run soak`: the abuse suite at volume, one scenario after another in
 * this process, printing a Markdown table for the README ("Security") and
 * exiting 1 if any scenario's invariants broke. Takes a few minutes; run it
 * on a quiet machine (the figures are for orders of magnitude, not for CI).
 * SOAK_SCALE=0.2 runs a fifth of the volume.
 */

const scale = Number(process.env.SOAK_SCALE ?? '1')
const n = (count: number): number => Math.max(1, Math.round(count * scale))

await warmUp()
const results: SoakResult[] = []
for (const scenario of [
  async () => await slowClients(n(5000), 20),
  async () => await headerFlood(n(5000), 50),
  async () => await rateFlood(n(1000), 5),
  async () => await rateMemory(n(1_000_000))
]) {
  const result = await scenario()
  results.push(result)
  console.error(`${result.ok ? 'ok  ' : 'FAIL'} ${result.name}${result.problems.length > 0 ? ': ' + result.problems.join('; ') : ''}`)
}

console.log(`Soak on Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`)
console.log('| scenario | figures |\n|---|---|')
for (const result of results) {
  const figures = Object.entries(result.figures).map(([key, value]) => `${key}: ${value}`).join(', ')
  console.log(`| ${result.name} | ${figures} |`)
}
process.exitCode = results.every(result => result.ok) ? 0 : 1
