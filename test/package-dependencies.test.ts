import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// R93: `npm install ws-cluster` installs what the product (plugin/ and
// cluster/) runs, and nothing that only the demo, the benchmarks or the
// tests need.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

function sources (dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return /\.(ts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

/** Packages a file imports at run time (type-only imports erase at compile time and need no install). */
function runtimeImports (file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specs = [
    ...[...text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
    ...[...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
    ...[...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1])
  ]
  return specs
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) => s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0])
    // The package's own name in doc examples is not an import of anything installed.
    .filter((name) => name !== pkg.name)
}

test('R93 dependencies are exactly the packages plugin/ and cluster/ import; the demo\'s, bench\'s and tests\' own are devDependencies', () => {
  const product = new Set(['plugin', 'cluster'].flatMap(sources).flatMap(runtimeImports))
  assert.deepEqual(Object.keys(pkg.dependencies).sort(), [...product].sort(),
    'a package the product imports must be a dependency, and a dependency must be one the product imports')
  for (const name of ['ioredis', '@fastify/static', '@fastify/websocket']) {
    assert.equal(pkg.dependencies[name], undefined, `${name} is not needed by the product`)
    assert.ok(pkg.devDependencies[name] !== undefined, `${name} stays installed for the demo and the tests`)
  }
  const elsewhere = new Set(['demo', 'bench', 'test'].flatMap(sources).flatMap(runtimeImports))
  for (const name of elsewhere) {
    assert.ok(pkg.dependencies[name] !== undefined || pkg.devDependencies[name] !== undefined, `${name} (imported by the demo, bench or tests) is declared`)
  }
})
