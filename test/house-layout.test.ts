import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// The house rules of the layout (README "Testing"): the plugin never imports
// the cluster; the cluster and the demo reach the plugin only through its
// entries; no import cycles; files stay small. A hand-written scan rather
// than a dependency-graph package, because the rules are about which room
// may import which, not only about cycles, and the scan is a few lines.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const ROOMS = ['plugin', 'cluster', 'demo'] as const
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

function sources (dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sources(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** Every relative import of every source file, as repo-relative `.ts` paths. */
function importGraph (): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const file of ROOMS.flatMap(room => sources(room))) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    const targets: string[] = []
    for (const match of text.matchAll(IMPORT_RE)) {
      const spec = match[1] ?? match[2]
      targets.push(normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts'))
    }
    graph.set(file, targets)
  }
  return graph
}

test('house: the plugin never imports the cluster; the cluster and the demo use the plugin only through its entries', () => {
  const wrong: string[] = []
  for (const [file, targets] of importGraph()) {
    for (const target of targets) {
      if (file.startsWith('plugin/') && target.startsWith('cluster/')) wrong.push(`${file} -> ${target}`)
      if (file.startsWith('cluster/') && target.startsWith('plugin/') && target !== 'plugin/index.ts' && target !== 'plugin/internal.ts') wrong.push(`${file} -> ${target}`)
      if (file.startsWith('demo/') && target.startsWith('plugin/') && target !== 'plugin/index.ts') wrong.push(`${file} -> ${target}`)
      if (file.startsWith('demo/') && target.startsWith('cluster/') && target !== 'cluster/define-config.ts') wrong.push(`${file} -> ${target}`)
    }
  }
  assert.deepEqual(wrong, [])
})

test('house: no import cycles among plugin/, cluster/ and demo/ sources (type-only imports included)', () => {
  const graph = importGraph()
  const state = new Map<string, 'open' | 'done'>()
  const cycles: string[] = []
  const visit = (file: string, stack: string[]): void => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(file)), file].join(' -> '))
      return
    }
    state.set(file, 'open')
    for (const target of graph.get(file) ?? []) visit(target, [...stack, file])
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file, [])
  assert.deepEqual(cycles, [])
})

test('house: every plugin and cluster source file has at most 300 lines', () => {
  const long = [...importGraph().keys()]
    .filter(file => !file.startsWith('demo/'))
    .map(file => ({ file, lines: readFileSync(join(ROOT, file), 'utf8').split('\n').length }))
    .filter(({ lines }) => lines > 300)
    .map(({ file, lines }) => `${relative('.', file)}: ${lines} lines`)
  assert.deepEqual(long, [])
})
