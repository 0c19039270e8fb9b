import type { Stat } from './summary.js'

/**
 * A small two-panel horizontal bar chart as plain SVG text (no chart library:
 * the README only needs two bar lists with min–max whiskers, and an SVG string
 * keeps the bench free of a rendering dependency).
 *
 * @example
 * writeFileSync('chart.svg', renderChart('title', [{ title: 'CPU', unit: 'µs', bars: [{ label: 'nginx', value: stat }] }]))
 */

export interface ChartPanel {
  title: string
  unit: string
  bars: Array<{ label: string, value: Stat | null, highlight?: boolean }>
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const PANEL_WIDTH = 450
const LABEL_WIDTH = 130
const BAR_HEIGHT = 18
const GAP = 6
const TOP = 56

function panel (p: ChartPanel, x: number): string {
  const bars = p.bars.filter((b) => b.value !== null)
  const max = Math.max(1e-9, ...bars.map((b) => Math.max(b.value?.max ?? 0, b.value?.median ?? 0)))
  const plot = PANEL_WIDTH - LABEL_WIDTH - 60
  const scale = (v: number): number => Math.max(0, v) / max * plot
  const parts: string[] = [
    `<text x="${x}" y="${TOP - 20}" font-size="12" font-weight="bold">${escape(p.title)}</text>`
  ]
  bars.forEach((b, i) => {
    const s = b.value as Stat
    const y = TOP + i * (BAR_HEIGHT + GAP)
    const x0 = x + LABEL_WIDTH
    const fill = b.highlight === true ? '#d9480f' : '#4c6ef5'
    parts.push(`<text x="${x0 - 6}" y="${y + 13}" font-size="11" text-anchor="end">${escape(b.label)}</text>`)
    parts.push(`<rect x="${x0}" y="${y}" width="${scale(s.median).toFixed(1)}" height="${BAR_HEIGHT}" fill="${fill}"/>`)
    if (s.n > 1) {
      const wy = y + BAR_HEIGHT / 2
      parts.push(`<line x1="${(x0 + scale(s.min)).toFixed(1)}" y1="${wy}" x2="${(x0 + scale(s.max)).toFixed(1)}" y2="${wy}" stroke="#212529" stroke-width="1"/>`)
    }
    parts.push(`<text x="${(x0 + scale(Math.max(s.median, s.max)) + 4).toFixed(1)}" y="${y + 13}" font-size="11">${s.median.toFixed(1)} ${escape(p.unit)}</text>`)
  })
  return parts.join('\n')
}

export function renderChart (title: string, panels: ChartPanel[], footnote: string): string {
  const rows = Math.max(1, ...panels.map((p) => p.bars.filter((b) => b.value !== null).length))
  const width = panels.length * PANEL_WIDTH + 20
  const height = TOP + rows * (BAR_HEIGHT + GAP) + 36
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...panels.map((p, i) => panel(p, 10 + i * PANEL_WIDTH)),
    `<text x="10" y="${height - 10}" font-size="10" fill="#495057">${escape(footnote)}</text>`,
    '</svg>',
    ''
  ].join('\n')
}
