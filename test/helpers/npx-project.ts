import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI } from './cluster-process.js'

/** The package root (package.json, dist/) this build belongs to. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/**
 * Makes `dir` a project that has ws-cluster installed the way `npm link`
 * leaves it — `node_modules/ws-cluster` → this package, and an executable
 * `node_modules/.bin/ws-cluster` → its CLI — so `npx --no-install
 * ws-cluster start` runs the real wrapper chain (npm → sh → node) with no
 * registry.
 *
 * @example
 * makeNpxProject(dir)
 * spawn('npx', ['--no-install', 'ws-cluster', 'start'], { cwd: dir })
 */
export function makeNpxProject (dir: string): void {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'npx-project', version: '1.0.0', private: true }))
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  symlinkSync(PACKAGE_ROOT, join(dir, 'node_modules', 'ws-cluster'), 'dir')
  symlinkSync('../ws-cluster/dist/cluster/cli.js', join(dir, 'node_modules', '.bin', 'ws-cluster'))
  // What npm does to a package's bin when it links it: tsc does not set the mode.
  chmodSync(CLI, 0o755)
}

/** Pids of every process whose environment holds `NAME=value` (how a test finds what it left behind). */
export function processesWithEnv (name: string, value: string): number[] {
  const needle = `${name}=${value}`
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) found.push(Number(entry))
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found
}
