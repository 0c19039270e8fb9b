import { readFile, stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { CliFlags, ClusterConfig } from './config-types.js'
import { ENV, applyOverrides, flagOverrides, readEnvOverrides } from './config-env.js'
import { validateConfig } from './config-validate.js'
import { parseJsonText } from './json-text.js'
import { ConfigError } from '../cluster-errors.js'

// Callers catch it where they load the config.
export { ConfigError }

/** Looked for in this order in the working directory, like nginx's one well-known config path. */
export const CONFIG_FILE_NAMES = ['ws-cluster.config.json', 'ws-cluster.config.mjs', 'ws-cluster.config.js'] as const

/** Path used for problems about the file as a whole (unreadable, bad JSON, no default export). */
export const FILE_PROBLEM_PATH = '(file)'

const EXAMPLE = `{
  "upstreams": {
    "app": { "servers": ["http://127.0.0.1:PORT"] }
  },
  "routes": [
    { "path": "/ws", "upstream": "app" }
  ]
}`

function notFound (cwd: string): ConfigError {
  const message = `No ws-cluster config file found in ${cwd}; looked for ${CONFIG_FILE_NAMES.join(', ')}.\n` +
    `Create ${CONFIG_FILE_NAMES[0]} there (or pass --config FILE, or set ${ENV.config}), for example:\n\n` +
    `${EXAMPLE}\n\n` +
    'and replace PORT with the port of your WebSocket backend.'
  return new ConfigError(null, [{ path: FILE_PROBLEM_PATH, message: `no config file found in ${cwd}` }], message)
}

/**
 * The first of `ws-cluster.config.json`, `.mjs`, `.js` that exists in `cwd`,
 * or null.
 *
 * @example
 * const file = await findConfigFile(process.cwd())
 */
export async function findConfigFile (cwd: string): Promise<string | null> {
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = resolve(cwd, name)
    try {
      if ((await stat(candidate)).isFile()) return candidate
    } catch {
      // not there: try the next name
    }
  }
  return null
}

/** Each load imports a fresh copy so that `reload` sees an edited .mjs/.js file. */
let importGeneration = 0

async function readConfigFile (file: string, origin: string): Promise<unknown> {
  const fail = (message: string): never => {
    throw new ConfigError(file, [{ path: FILE_PROBLEM_PATH, message }])
  }
  const ext = extname(file)
  if (ext === '.json') {
    let text = ''
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      fail(`cannot read ${file}${origin}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message} (${code})`)
    }
    // Editors on Windows may save a byte order mark; JSON.parse would call it an unexpected token.
    const parsed = parseJsonText(text.replace(/^\uFEFF/, ''))
    if (parsed.ok) return parsed.value
    const { line, column, message } = parsed.problem
    return fail(`is not valid JSON: line ${line}, column ${column}: ${message}`)
  }
  if (ext === '.mjs' || ext === '.js' || ext === '.cjs') {
    try {
      await stat(file)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      fail(`cannot read ${file}${origin}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message} (${code})`)
    }
    let mod: { default?: unknown }
    try {
      mod = await import(`${pathToFileURL(file).href}?generation=${++importGeneration}`)
    } catch (err) {
      return fail(`could not be loaded: ${(err as Error).message}`)
    }
    if (mod.default === undefined) fail('has no default export; write: export default defineConfig({ upstreams: {...}, routes: [...] })')
    return mod.default
  }
  return fail(`unsupported file type "${ext}"; use .json, .mjs or .js`)
}

/**
 * Finds, reads and validates the cluster config, then applies `WS_CLUSTER_*`
 * environment overrides and command-line flags (defaults < file < env <
 * flags). The file is `opts.file`, else `--config`, else
 * `WS_CLUSTER_CONFIG`, else the first of {@link CONFIG_FILE_NAMES} in `cwd`.
 * Throws a {@link ConfigError} listing every problem found.
 *
 * @example
 * const config = await loadConfig({ cwd: process.cwd(), env: process.env, flags: { port: 9000 } })
 */
export async function loadConfig (opts: { file?: string, cwd: string, env: NodeJS.ProcessEnv, flags: CliFlags }): Promise<ClusterConfig> {
  const { cwd, env, flags } = opts
  const fromEnv = env[ENV.config]?.trim()
  let chosen: string | undefined
  let origin = ''
  if (opts.file !== undefined) chosen = opts.file
  else if (flags.config !== undefined) chosen = flags.config
  else if (fromEnv !== undefined && fromEnv !== '') {
    chosen = fromEnv
    origin = ` (from ${ENV.config})`
  }
  const file = chosen === undefined ? await findConfigFile(cwd) : resolve(cwd, chosen)
  if (file === null) throw notFound(cwd)

  const raw = await readConfigFile(file, origin)
  const validated = validateConfig(raw, file)
  const envResult = readEnvOverrides(env)
  const problems = [...validated.problems, ...envResult.problems]
  if (validated.config === null || problems.length > 0) throw new ConfigError(file, problems)

  const withEnv = applyOverrides(validated.config, envResult.overrides)
  const withFlags = applyOverrides(withEnv.config, flagOverrides(flags, availableParallelism))
  if (withFlags.problems.length > 0) throw new ConfigError(file, withFlags.problems)
  return withFlags.config
}
