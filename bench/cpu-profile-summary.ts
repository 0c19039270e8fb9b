import { readFileSync } from 'node:fs'

/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) and totals self time
 * per function, sorted into whose code it is — ours (plugin/cluster), a
 * dependency, Node's own JavaScript, or native/VM time — so a profile of the
 * tunnel says directly which of our functions are worth optimising.
 */

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number, columnNumber: number }
}

interface CpuProfile {
  startTime: number
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export type Owner = 'ours' | 'dependency' | 'node' | 'native' | 'idle'

export interface FunctionTime {
  name: string
  location: string
  owner: Owner
  selfMs: number
  share: number
}

export interface ProfileSummary {
  totalMs: number
  /** Sampled time excluding `(idle)`: what the process actually spent CPU on. */
  busyMs: number
  byOwner: Record<Owner, number>
  functions: FunctionTime[]
}

function ownerOf (url: string, functionName: string): Owner {
  if (functionName === '(idle)') return 'idle'
  if (url === '') return 'native'
  if (url.includes('/node_modules/')) return 'dependency'
  if (url.startsWith('node:') || !url.includes('/')) return 'node'
  if (/\/dist\/(plugin|cluster)\//.test(url)) return 'ours'
  return 'dependency'
}

function shortLocation (url: string, line: number): string {
  if (url === '') return '(native)'
  const trimmed = url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/')
  return `${trimmed}:${line + 1}`
}

/**
 * @example
 * const s = summarizeProfile('/tmp/prof/CPU.20260101.cpuprofile', { startUs, endUs })
 * console.log(s.functions.filter((f) => f.owner === 'ours').slice(0, 10))
 */
export function summarizeProfile (file: string, window?: { startUs: number, endUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<string, { name: string, location: string, owner: Owner, us: number }>()
  const byOwner: Record<Owner, number> = { ours: 0, dependency: 0, node: 0, native: 0, idle: 0 }
  let totalUs = 0
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]
    const node = byId.get(profile.samples[i])
    const delta = profile.timeDeltas[i + 1] ?? 0
    // Startup (module loading, JIT warm-up) is outside the measured window and would blur the tunnel's own cost.
    if (node === undefined || (window !== undefined && (at < window.startUs || at > window.endUs))) continue
    const { functionName, url, lineNumber } = node.callFrame
    const owner = ownerOf(url, functionName)
    const name = functionName === '' ? '(anonymous)' : functionName
    const location = shortLocation(url, lineNumber)
    const key = `${name}@${location}`
    const entry = selfUs.get(key) ?? { name, location, owner, us: 0 }
    entry.us += delta
    selfUs.set(key, entry)
    byOwner[owner] += delta / 1000
    totalUs += delta
  }
  const busyMs = (totalUs / 1000) - byOwner.idle
  const functions = [...selfUs.values()]
    .filter((f) => f.owner !== 'idle')
    .map((f) => ({ name: f.name, location: f.location, owner: f.owner, selfMs: f.us / 1000, share: busyMs > 0 ? f.us / 1000 / busyMs : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
  return { totalMs: totalUs / 1000, busyMs, byOwner, functions }
}

/** A Markdown section: time by owner, then the top functions overall and ours. */
export function renderProfile (title: string, s: ProfileSummary, top = 15): string {
  const pct = (ms: number): string => `${(ms / Math.max(1e-9, s.busyMs) * 100).toFixed(1)}%`
  const rows = (list: FunctionTime[]): string[] => list.slice(0, top).map((f) =>
    `| ${f.name} | ${f.location} | ${f.owner} | ${f.selfMs.toFixed(1)} | ${(f.share * 100).toFixed(1)}% |`)
  return [
    `### ${title}`,
    '',
    `Busy ${s.busyMs.toFixed(0)} ms sampled: ours ${pct(s.byOwner.ours)}, dependencies ${pct(s.byOwner.dependency)}, ` +
      `Node JS ${pct(s.byOwner.node)}, native/VM/GC ${pct(s.byOwner.native)}.`,
    '',
    '| function (top self time) | where | owner | self ms | share of busy |',
    '|---|---|---|---|---|',
    ...rows(s.functions),
    '',
    '| our functions (top self time) | where | owner | self ms | share of busy |',
    '|---|---|---|---|---|',
    ...rows(s.functions.filter((f) => f.owner === 'ours')),
    ''
  ].join('\n')
}
