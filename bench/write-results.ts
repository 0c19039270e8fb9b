import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { renderChart } from './chart-svg.js'
import { renderMarkdown, type RunReport } from './report-markdown.js'
import { summarize, type Measurement } from './summary.js'

/**
 * Writes a run's files under bench/results/: `<stamp>-<mode>.json` (everything,
 * raw measurements included), the Markdown table, `latest.md` and `chart.svg`.
 * The Markdown and the chart are always derived from the JSON's measurements, so
 * `node dist/bench/write-results.js FILE.json` can re-render them later.
 */

export type RunFile = Omit<RunReport, 'summary'> & { plan: unknown, measurements: Measurement[] }

export function writeResults (run: RunFile, outDir: string, jsonPath?: string): string {
  mkdirSync(outDir, { recursive: true })
  const stamp = run.machine.date.slice(0, 16).replace(/:/g, '')
  const base = jsonPath === undefined ? `${outDir}/${stamp}-${run.mode}` : jsonPath.replace(/\.json$/, '')
  if (jsonPath === undefined) writeFileSync(`${base}.json`, JSON.stringify(run, null, 2) + '\n')
  const summary = summarize(run.measurements)
  const report: RunReport = { ...run, summary }
  const markdown = renderMarkdown(report)
  writeFileSync(`${base}.md`, markdown)
  copyFileSync(`${base}.md`, `${outDir}/latest.md`)
  const h = run.headlineSpecs
  const ids = run.paths.map((p) => p.id).filter((id) => id !== 'direct')
  writeFileSync(`${outDir}/chart.svg`, renderChart(
    `WebSocket proxies side by side — ${run.machine.cores} cores, Node ${run.machine.node}, ${run.machine.date.slice(0, 10)}`,
    [
      {
        title: 'Proxy CPU µs per round trip, C=50, 64 B (lower is better)',
        unit: 'µs',
        bars: ids.map((id) => ({ label: id, value: summary.loops[h.c50]?.[id]?.proxyCpuUs ?? null, highlight: id.startsWith('wsc') }))
      },
      {
        title: 'Added p50 latency over direct, C=1, 64 B',
        unit: 'µs',
        bars: ids.map((id) => ({ label: id, value: summary.loops[h.c1]?.[id]?.addedP50Us ?? null, highlight: id.startsWith('wsc') }))
      }
    ],
    `${run.mode} run, median of ${run.reps} interleaved repetition(s), whiskers min–max. Source: bench/results/${basename(base)}.json`
  ))
  return markdown
}

// Re-render mode: `node dist/bench/write-results.js bench/results/<stamp>-full.json`.
if (process.argv[1] !== undefined && import.meta.url.endsWith(basename(process.argv[1]))) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: node dist/bench/write-results.js bench/results/<stamp>-<mode>.json')
    process.exit(2)
  }
  const run = JSON.parse(readFileSync(file, 'utf8')) as RunFile
  const dir = file.slice(0, Math.max(0, file.lastIndexOf('/'))) || '.'
  writeResults(run, dir, file)
  console.log(`re-rendered ${file.replace(/\.json$/, '.md')}, ${dir}/latest.md, ${dir}/chart.svg`)
}
