import { pathToFileURL } from 'node:url'
import type { MessageHook } from '../options/relay-types.js'

/*
 * A hook given as a module path: an ES module (or CommonJS file) exporting
 * `onMessage`, or a function as its default export. Loaded in the hook pool's
 * threads for real, and by `ws-cluster check` to prove that it loads.
 */

/**
 * Imports `file` and returns its hook; throws an Error saying what the
 * module exports instead when it has none.
 *
 * @example
 * const hook = await importHook('/srv/hooks/validate.mjs')
 */
export async function importHook (file: string): Promise<MessageHook> {
  const mod = await import(pathToFileURL(file).href) as { onMessage?: unknown, default?: unknown }
  if (typeof mod.onMessage === 'function') return mod.onMessage as MessageHook
  if (typeof mod.default === 'function') return mod.default as MessageHook
  const defaultExport = mod.default as { onMessage?: unknown } | undefined
  // A CommonJS module's exports object arrives as the default export.
  if (typeof defaultExport?.onMessage === 'function') return defaultExport.onMessage as MessageHook
  const names = Object.keys(mod).filter(name => name !== 'default')
  throw new TypeError(`${file} exports no onMessage function and no default function (exports: ${names.length === 0 ? 'none' : names.join(', ')})`)
}

/**
 * Why the hook module at `file` cannot be used (it fails to load or exports
 * no hook), or null when it can.
 *
 * @example
 * const problem = await hookModuleProblem('/srv/hooks/validate.mjs')
 */
export async function hookModuleProblem (file: string): Promise<string | null> {
  try {
    await importHook(file)
    return null
  } catch (err) {
    return `cannot load the hook module: ${(err as Error).message}`
  }
}
