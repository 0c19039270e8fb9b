import { pathToFileURL } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'

/**
 * Imports the config's `app` module and returns its Fastify plugin: the
 * default export (or the module itself, for CommonJS `module.exports =`),
 * which must be a function. Used by the workers, and by `ws-cluster check`
 * in a child process so that a module that hangs cannot hang the check.
 *
 * @example
 * const plugin = await loadUserApp('/srv/app/auth.mjs')
 * await app.register(plugin)
 */
export async function loadUserApp (file: string): Promise<FastifyPluginAsync> {
  const mod = await import(pathToFileURL(file).href) as { default?: unknown }
  const plugin = mod.default ?? mod
  if (typeof plugin !== 'function') {
    throw new TypeError(`app ${file} must export a Fastify plugin function as its default export; got ${typeof plugin}`)
  }
  return plugin as FastifyPluginAsync
}
