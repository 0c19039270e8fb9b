import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'

/** Fixture configs are not compiled, so tests read them from the source tree next to dist/. */
export const FIXTURES = resolve(fileURLToPath(import.meta.url), '../../../../test/fixtures/configs')

/** The smallest valid config: one group, one route. */
export const MINIMAL = {
  upstreams: { chat: { servers: ['http://127.0.0.1:9001'] } },
  routes: [{ path: '/ws', upstream: 'chat' }]
}

/**
 * A fresh directory holding `files` (objects are written as JSON), removed
 * when the test ends.
 */
export async function tempDir (t: TestContext, files: Record<string, string | object> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ws-cluster-config-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2))
  }
  return dir
}
