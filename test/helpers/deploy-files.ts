import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { parseDuration } from '../../plugin/options/duration.js'
import { runCli } from './cluster-process.js'

/** The repository root: deploy files are not compiled, so tests read them from the source tree next to dist/. */
export const REPO = resolve(fileURLToPath(import.meta.url), '../../../..')
export const DEPLOY = join(REPO, 'deploy')

/**
 * How long the primary waits for a draining worker beyond shutdownTimeout
 * before it SIGKILLs it (cluster/worker-process.ts `drainWorker`: the
 * worker's 1 s grace + its 2 s exit margin + 2 s). A supervisor that stops
 * ws-cluster must wait at least shutdownTimeout + this.
 */
export const WORKER_KILL_MARGIN_MS = 5000
/** What the deploy files must leave on top of that, for a loaded machine. */
export const SUPERVISOR_MARGIN_MS = 5000
/** The config's default when it sets none (cluster/config-types.ts). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000

export function readDeployFile (relative: string): string {
  return readFileSync(join(DEPLOY, relative), 'utf8')
}

/** Every `*.yaml` under `deploy/<relative>`, sorted, as paths relative to deploy/. */
export function yamlFilesUnder (relative: string): string[] {
  const found: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(DEPLOY, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.yaml') || entry.name.endsWith('.yml')) found.push(path)
    }
  }
  walk(relative)
  return found.sort()
}

/**
 * All documents of a YAML file as plain values. Any parse error or warning
 * (duplicate keys, bad indentation, tabs) throws: the files are ours, so they
 * should be clean. `merge` enables `<<:` keys, which Compose files use.
 */
export function readYamlDocuments (relative: string, options: { merge?: boolean } = {}): unknown[] {
  const docs = parseAllDocuments(readDeployFile(relative), { merge: options.merge === true, uniqueKeys: true, prettyErrors: true })
  if (!Array.isArray(docs)) return []
  return docs.map((doc) => {
    const problems = [...doc.errors, ...doc.warnings]
    if (problems.length > 0) throw new Error(`${relative}: ${problems.map((p) => p.message).join('\n')}`)
    return doc.toJS() as unknown
  }).filter((value) => value !== null)
}

/** A config's shutdownTimeout in ms (the config's own duration grammar; default when absent). */
export function shutdownTimeoutMs (config: { shutdownTimeout?: unknown }): number {
  return config.shutdownTimeout === undefined ? DEFAULT_SHUTDOWN_TIMEOUT_MS : parseDuration(config.shutdownTimeout, 'shutdownTimeout')
}

/** The least time a supervisor must give a ws-cluster with this config between SIGTERM and SIGKILL. */
export function minimumStopBudgetMs (config: { shutdownTimeout?: unknown }): number {
  return shutdownTimeoutMs(config) + WORKER_KILL_MARGIN_MS + SUPERVISOR_MARGIN_MS
}

export interface CheckResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the real `ws-cluster check` CLI (a child process) on a config as it
 * would sit in its deployment: `configText` is written to `configPath` inside
 * a temp folder standing for the target filesystem, next to `files` (path in
 * the target → file in this repository) copied to their target paths, so
 * that relative `app` or TLS paths resolve as they would there.
 *
 * @example
 * await checkConfigAt('/etc/ws-cluster/ws-cluster.config.json', text)
 */
export async function checkConfigAt (configPath: string, configText: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): Promise<CheckResult> {
  const root = mkdtempSync(join(tmpdir(), 'wsc-deploy-'))
  try {
    const target = join(root, configPath)
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, configText)
    for (const [to, from] of Object.entries(files)) {
      mkdirSync(dirname(join(root, to)), { recursive: true })
      copyFileSync(join(REPO, from), join(root, to))
    }
    // `check` imports the `app` module (R62): an app under /app finds the image's node_modules there.
    if (Object.keys(files).some((to) => to.startsWith('/app/'))) symlinkSync(join(REPO, 'node_modules'), join(root, 'app', 'node_modules'), 'dir')
    return await runCli(['check', '--config', target], root, 30_000, env)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
