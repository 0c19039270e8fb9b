import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { parseDuration } from '../plugin/options/duration.js'
import { checkConfigAt, minimumStopBudgetMs, readDeployFile, readYamlDocuments, REPO, shutdownTimeoutMs } from './helpers/deploy-files.js'
import { makeClusterDir, startCluster } from './helpers/cluster-process.js'
import { execForm, healthcheck, imagePathOf, last, parseStages } from './helpers/dockerfile-stages.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'

// deploy/Dockerfile, parsed with dockerfile-ast; the configs it bakes in, through the real `ws-cluster check`.
const baseline = openFdCount()
after(() => assertNoFdLeak(baseline))

const stages = parseStages(readDeployFile('Dockerfile'))
const runtime = stages.at(-1)
const demo = stages.find((s) => s.name === 'demo')
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string>, dependencies: Record<string, string>, devDependencies: Record<string, string> }

/** Where a file of the build context ends up in the final image, or null. */
function imagePathOfContextFile (source: string): string | null {
  const copy = runtime?.copies.find((c) => c.from === null && c.sources.includes(source))
  return copy === undefined ? null : imagePathOf(copy, source)
}

test('Dockerfile: a build stage with the full install and the compile, a runtime stage with production dependencies only', () => {
  assert.ok(stages.length >= 2, 'multi-stage')
  const build = stages.find((s) => s.runs.some((r) => /\bnpm run build\b/.test(r)))
  assert.ok(build !== undefined && build !== runtime, 'a stage other than the last one compiles')
  assert.ok(build.runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'the build stage installs devDependencies (tsc)')
  assert.ok(runtime !== undefined)
  const install = runtime.runs.find((r) => /\bnpm ci\b/.test(r)) ?? ''
  assert.match(install, /--omit=dev/)
  // package.json's `prepare` runs tsc, a devDependency that --omit=dev leaves out.
  assert.match(install, /--ignore-scripts/)
  assert.ok(!runtime.runs.some((r) => /\bnpm run build\b|\btsc\b/.test(r)), 'nothing is compiled in the runtime stage')
  assert.ok(!runtime.copies.some((c) => c.sources.some((s) => /(^|\/)demo(\/|$)/.test(s))), 'the default image carries no demo files')
  // Each compiled folder the runtime takes from the build stage was compiled from sources copied there.
  for (const copy of runtime.copies.filter((c) => c.from === build.name)) {
    for (const source of copy.sources) {
      const folder = /\/dist\/([^/]+)$/.exec(source)?.[1]
      assert.ok(folder !== undefined, `runtime copies compiled output only: ${source}`)
      assert.ok(build.copies.some((c) => c.sources.includes(folder)), `the build stage copies ${folder}/ to compile it`)
    }
  }
  // Every context path exists (a renamed file breaks the build, not only this test).
  for (const stage of stages) {
    for (const copy of stage.copies.filter((c) => c.from === null)) {
      for (const source of copy.sources) assert.ok(existsSync(join(REPO, source)), `COPY source ${source} exists`)
    }
  }
})

test('Dockerfile: non-root, exec-form ENTRYPOINT running node on the CLI, CMD `start --config` with a config that `ws-cluster check` accepts', async () => {
  assert.ok(runtime !== undefined)
  const user = last(runtime, 'USER')?.getArgumentsContent()?.trim() ?? 'root'
  assert.doesNotMatch(user, /^(root|0)(:|$)/, 'the last stage runs as a non-root user')
  assert.match(user, /^\d+(:\d+)?$/, 'a numeric user, so Kubernetes runAsNonRoot can verify it')

  const entrypoint = execForm(last(runtime, 'ENTRYPOINT'))
  assert.ok(entrypoint !== null, 'exec form: no /bin/sh -c between the runtime and node, so signals reach the primary')
  assert.equal(entrypoint[0], 'node')
  const cli = entrypoint[1]
  const cliCopy = runtime.copies.find((c) => c.from !== null && cli.startsWith(c.destination + '/'))
  assert.ok(cliCopy !== undefined, `${cli} is copied into the image`)
  assert.ok(cli.endsWith(pkg.bin['ws-cluster'].replace(/^\.\//, '/')), `the ENTRYPOINT runs the package's bin (${pkg.bin['ws-cluster']})`)
  assert.ok(!entrypoint.some((a) => /^(npm|npx|sh|bash|\/bin\/sh)$/.test(a)))

  const cmd = execForm(last(runtime, 'CMD'))
  assert.ok(cmd !== null, 'CMD in exec form')
  assert.equal(cmd[0], 'start')
  const configPath = cmd[cmd.indexOf('--config') + 1]
  assert.equal(imagePathOfContextFile('deploy/docker/ws-cluster.config.json'), configPath, 'the default config is baked in where CMD looks')
  const configText = readDeployFile('docker/ws-cluster.config.json')
  const result = await checkConfigAt(configPath, configText)
  assert.equal(result.code, 0, result.stderr)

  const config = JSON.parse(configText) as { listen: { port: number } }
  const exposed = (last(runtime, 'EXPOSE')?.getArguments() ?? []).map((a) => Number(a.getValue().split('/')[0]))
  assert.ok(exposed.includes(config.listen.port), `EXPOSE ${config.listen.port}`)
  assert.equal(last(runtime, 'STOPSIGNAL')?.getArgumentsContent()?.trim(), 'SIGTERM')
  const env = last(runtime, 'ENV')?.getArgumentsContent() ?? ''
  assert.match(env, /WS_CLUSTER_RUN_DIR=\/tmp\//, 'the run folder is writable (the config folder is root-owned)')
})

test('Dockerfile: HEALTHCHECK runs node against the admin /livez; run here, it passes on a live cluster and fails on a stopped one', async () => {
  assert.ok(runtime !== undefined)
  const check = healthcheck(last(runtime, 'HEALTHCHECK'))
  assert.ok(check.argv !== null, 'HEALTHCHECK CMD in exec form')
  assert.equal(check.argv[0], 'node', 'slim images have no curl')
  assert.match(check.argv.join(' '), /\/livez/)
  assert.ok(parseDuration(check.flags.timeout ?? '30s', 'timeout') <= parseDuration(check.flags.interval ?? '30s', 'interval'))

  const run = async (adminPort: number): Promise<number | null> => {
    const child = spawn(process.execPath, (check.argv as string[]).slice(1), { env: { ...process.env, WS_CLUSTER_ADMIN_PORT: String(adminPort) }, stdio: 'ignore' })
    const timer = setTimeout(() => child.kill('SIGKILL'), parseDuration(check.flags.timeout ?? '30s', 'timeout') + 2000)
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    clearTimeout(timer)
    return code
  }
  const dir = makeClusterDir()
  const config = JSON.parse(readDeployFile('docker/ws-cluster.config.json')) as Record<string, unknown>
  const cluster = await startCluster(dir.dir, { ...config, listen: { port: 0, host: '127.0.0.1' }, admin: { port: 0, host: '127.0.0.1' }, workers: 1 })
  try {
    assert.equal(await run(cluster.adminPort as number), 0)
  } finally {
    await cluster.kill()
    dir.cleanup()
  }
  assert.equal(await run(cluster.adminPort as number), 1, 'nothing listens any more')
})

interface ComposeService {
  build?: { context: string, dockerfile: string, target?: string }
  image?: string
  entrypoint?: string[]
  command?: string[]
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  stop_grace_period?: string
  read_only?: boolean
  healthcheck?: { test: string[] }
}

test('docker-compose.yml: the demo — ws-cluster from the image with the demo config, in front of the two chat backends by service name', async () => {
  const [compose] = readYamlDocuments('docker-compose.yml', { merge: true }) as Array<{ services: Record<string, ComposeService> }>
  const services = compose.services
  const proxy = services['ws-cluster']
  assert.ok(proxy !== undefined)
  for (const [name, service] of Object.entries(services)) {
    if (service.build === undefined) continue
    assert.ok(existsSync(join(REPO, 'deploy', service.build.context, service.build.dockerfile)), `${name} builds deploy/Dockerfile`)
    assert.equal(posix.join('deploy', service.build.context), '.', `${name}: the build context is the repository root`)
    assert.equal(service.build.target, 'demo', `${name}: builds the demo target, which has the demo's files and packages`)
  }
  assert.ok(demo !== undefined, 'the Dockerfile has a demo stage')

  // ws-cluster keeps the image's ENTRYPOINT (node on the CLI) and starts with the mounted demo config.
  assert.equal(proxy.entrypoint, undefined)
  const command = proxy.command ?? []
  assert.equal(command[0], 'start')
  const configPath = command[command.indexOf('--config') + 1]
  const mount = (proxy.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === configPath)
  assert.ok(mount !== undefined, `${configPath} is mounted`)
  const configText = readFileSync(join(REPO, 'deploy', mount[0]), 'utf8')
  const config = JSON.parse(configText) as { app: string, listen: { port: number }, admin: { port: number, host: string }, upstreams: Record<string, { servers: string[] }>, shutdownTimeout?: string }
  // The config's `app` is relative to it: it must be a file the image has in that folder.
  const appInImage = posix.resolve(posix.dirname(configPath), config.app)
  const appSource = demo?.copies.filter((c) => c.from === null).flatMap((c) => c.sources.map((s) => ({ s, to: imagePathOf(c, s) }))).find(({ to }) => to === appInImage)?.s
  assert.ok(appSource !== undefined, `the image contains ${appInImage}`)
  const result = await checkConfigAt(configPath, configText, { [appInImage]: appSource })
  assert.equal(result.code, 0, result.stderr)

  // Upstreams name backend services and the ports those listen on, on all interfaces.
  for (const server of Object.values(config.upstreams).flatMap((u) => u.servers)) {
    const url = new URL(server)
    const backend = services[url.hostname]
    assert.ok(backend !== undefined, `${server}: a compose service named ${url.hostname}`)
    assert.deepEqual(backend.entrypoint, ['node', '/app/dist/demo/chat-backend.js'])
    assert.equal(backend.command?.[backend.command.indexOf('--port') + 1], url.port)
    assert.equal(backend.command?.[backend.command.indexOf('--host') + 1], '0.0.0.0')
    assert.equal(proxy.depends_on?.[url.hostname]?.condition, 'service_healthy')
    assert.equal(backend.healthcheck?.test[0], 'CMD')
  }
  // Published ports reach the container only when it binds all interfaces.
  const published = (proxy.ports ?? []).map((p) => Number(p.split(':').at(-1)))
  assert.ok(published.includes(config.listen.port))
  if (published.includes(config.admin.port)) assert.equal(config.admin.host, '0.0.0.0')
  // `docker compose stop` must not SIGKILL the drain.
  assert.ok(parseDuration(proxy.stop_grace_period ?? '10s', 'stop_grace_period') >= minimumStopBudgetMs(config),
    `stop_grace_period covers shutdownTimeout ${shutdownTimeoutMs(config)} ms + margins`)
  assert.equal(proxy.read_only, true)
})

/** Bare package names a source file imports (node: built-ins and relative paths left out). */
function packagesImportedBy (file: string): string[] {
  const text = readFileSync(join(REPO, file), 'utf8')
  const names = [...text.matchAll(/(?:^|\n)\s*import\s[^'"]*?from\s*['"]([^'".][^'"]*)['"]/g)].map((m) => m[1])
  return names.filter((n) => !n.startsWith('node:')).map((n) => n.startsWith('@') ? n.split('/').slice(0, 2).join('/') : n.split('/')[0])
}

test('Dockerfile: the demo stage installs every package the demo imports that the product does not depend on (they are devDependencies)', () => {
  assert.ok(demo !== undefined && demo.base !== null, 'the demo builds on the production image')
  const demoFiles = readdirSync(join(REPO, 'demo')).filter((f) => /\.(ts|mjs)$/.test(f)).map((f) => `demo/${f}`)
  const needed = [...new Set(demoFiles.flatMap(packagesImportedBy))].filter((name) => pkg.dependencies[name] === undefined).sort()
  assert.ok(needed.includes('ioredis') && needed.includes('@fastify/static'), `found the demo's own packages: ${needed.join(', ')}`)
  const install = demo.runs.find((r) => /\bnpm install\b/.test(r)) ?? ''
  assert.match(install, /--omit=dev/)
  // The install moves the listed devDependencies into a scratch package.json's dependencies: a production one listed there would be dropped.
  const listed = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)].filter((name) => new RegExp(`\\s${name.replace('/', '\\/')}(\\s|$)`).test(install))
  for (const name of listed) assert.ok(pkg.devDependencies[name] !== undefined, `${name}, installed by the demo stage, is a devDependency`)
  for (const name of needed) {
    assert.ok(pkg.devDependencies[name] !== undefined, `${name} is a devDependency`)
    assert.match(install, new RegExp(`\\s${name.replace('/', '\\/')}(\\s|$)`), `the demo stage installs ${name}`)
  }
  // The demo's compiled files and static page are in the demo image, so compose can run them.
  for (const source of ['/src/dist/demo', 'demo/static-site.mjs', 'demo/public']) {
    assert.ok(demo.copies.some((c) => c.sources.includes(source)), `the demo stage copies ${source}`)
  }
})
