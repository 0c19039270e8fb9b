import { after, before } from 'node:test'
import { startEchoBackend, type EchoBackend, type EchoBackendOptions } from './backends.js'
import { makeClusterDir, startCluster, writeWhoamiApp, type RunningCluster } from './cluster-process.js'
import { assertNoFdLeak, openFdCount } from './fd-leak.js'

/** What a test file's hooks set up; fields are filled in by the `before` hook, so read them inside tests only. */
export interface WhoamiCluster {
  cluster: RunningCluster
  /** The first backend, the `echo` upstream's only server by default. */
  backend: EchoBackend
  /** Every backend started, in the order of `backends`. */
  backends: EchoBackend[]
  /** The cluster's folder (config file, app plugin, run state). */
  dir: string
  /** The config as written to `ws-cluster.config.json`, for tests that rewrite it. */
  config: Record<string, unknown>
}

export interface WhoamiClusterOptions {
  /** One echo backend is started per entry (default: one unnamed backend). */
  backends?: EchoBackendOptions[]
  /** Config fields over the defaults (one `echo` upstream on the first backend, `/ws`, 2 workers, no admin, whoami app). */
  config?: (setup: { dir: string, backends: EchoBackend[] }) => Record<string, unknown>
  /** Runs first in the `after` hook, before the cluster is stopped (e.g. to release a worker held in startup). */
  beforeStop?: () => void
}

/**
 * Registers `before`/`after` hooks for the file: echo backends, a cluster
 * started from a temp folder with the whoami app, and on the way out the
 * cluster stopped, backends closed, folder removed and the fd check (R38).
 * Hooks run in registration order, so hooks a test file registers earlier
 * run around these.
 *
 * @example
 * const fixture = useWhoamiCluster({ config: () => ({ workers: 3 }) })
 * test('...', async () => { await whoami(fixture.cluster.port) })
 */
export function useWhoamiCluster (options: WhoamiClusterOptions = {}): WhoamiCluster {
  const fixture = {} as WhoamiCluster
  let baseline = 0
  let cluster: RunningCluster | undefined
  const backends: EchoBackend[] = []
  let dir: { dir: string, cleanup: () => void } | undefined

  before(async () => {
    baseline = openFdCount()
    for (const backendOptions of options.backends ?? [{}]) backends.push(await startEchoBackend(backendOptions))
    dir = makeClusterDir()
    const overrides = options.config?.({ dir: dir.dir, backends }) ?? {}
    const config: Record<string, unknown> = {
      upstreams: { echo: { servers: [backends[0]?.url] } },
      routes: [{ path: '/ws', upstream: 'echo' }],
      listen: { port: 0, host: '127.0.0.1' },
      admin: false,
      workers: 2,
      shutdownTimeout: '1s',
      app: 'app' in overrides ? overrides.app : writeWhoamiApp(dir.dir),
      ...overrides
    }
    Object.assign(fixture, { backend: backends[0], backends, dir: dir.dir, config })
    cluster = await startCluster(dir.dir, config)
    fixture.cluster = cluster
  })

  after(async () => {
    options.beforeStop?.()
    await cluster?.kill()
    for (const backend of backends) await backend.close()
    dir?.cleanup()
    await assertNoFdLeak(baseline)
  })

  return fixture
}

/** What a test file that starts its own clusters shares: see {@link useClusterRuns}. */
export interface ClusterRuns {
  /** The file's echo backend; set by the `before` hook, so read it inside tests only. */
  backend: EchoBackend
  /** Clusters to kill in the `after` hook. */
  clusters: RunningCluster[]
  /** Cluster folders to remove in the `after` hook. */
  dirs: Array<{ dir: string, cleanup: () => void }>
}

/**
 * Registers `before`/`after` hooks for a file whose tests start clusters of
 * their own: one echo backend for the file, and on the way out every
 * registered cluster killed, the backend closed, every folder removed and the
 * fd check (R38).
 *
 * @example
 * const runs = useClusterRuns()
 * test('...', async () => { runs.clusters.push(await startCluster(...)) })
 */
export function useClusterRuns (): ClusterRuns {
  const runs: ClusterRuns = { backend: undefined as unknown as EchoBackend, clusters: [], dirs: [] }
  let baseline = 0
  before(async () => {
    baseline = openFdCount()
    runs.backend = await startEchoBackend()
  })
  after(async () => {
    for (const cluster of runs.clusters) await cluster.kill()
    await (runs.backend as EchoBackend | undefined)?.close()
    for (const dir of runs.dirs) dir.cleanup()
    await assertNoFdLeak(baseline)
  })
  return runs
}
