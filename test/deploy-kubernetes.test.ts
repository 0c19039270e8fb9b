import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { posix } from 'node:path'
import { checkConfigAt, minimumStopBudgetMs, readYamlDocuments, shutdownTimeoutMs, yamlFilesUnder } from './helpers/deploy-files.js'
import { httpGet, makeClusterDir, startCluster } from './helpers/cluster-process.js'
import { assertNoFdLeak, openFdCount } from './helpers/fd-leak.js'
import { unknownFieldProblems, validateManifest, type Manifest } from './helpers/kubernetes-schema.js'

// deploy/kubernetes/: schema (kubernetes-models), then what the manifests promise about ws-cluster.
const baseline = openFdCount()
after(() => assertNoFdLeak(baseline))

const CONFIG_KEY = 'ws-cluster.config.json'
const manifests = yamlFilesUnder('kubernetes').flatMap((file) => readYamlDocuments(file).map((manifest) => ({ file, manifest: manifest as Manifest })))

interface Probe { httpGet: { path: string, port: string | number } }
interface Container {
  name: string
  args: string[]
  env: Array<{ name: string, value?: string, valueFrom?: { resourceFieldRef?: { resource: string, divisor?: string } } }>
  ports: Array<{ name: string, containerPort: number }>
  livenessProbe: Probe
  readinessProbe: Probe
  lifecycle: { preStop: { exec: { command: string[] } } }
  resources: { requests: Record<string, string>, limits: Record<string, string> }
  securityContext: { readOnlyRootFilesystem: boolean, allowPrivilegeEscalation: boolean, capabilities: { drop: string[] } }
  volumeMounts: Array<{ name: string, mountPath: string }>
}
interface PodSpec {
  terminationGracePeriodSeconds: number
  securityContext: { runAsNonRoot: boolean, runAsUser: number }
  containers: Container[]
  volumes: Array<{ name: string, configMap?: { name: string }, emptyDir?: object }>
}
interface ClusterConfigJson {
  listen: { port: number, host: string, proxyProtocol?: boolean, trustedProxies?: string[] }
  admin: { port: number, host: string }
  shutdownTimeout?: string
}

function find (kind: string, name: string, dir = 'kubernetes'): Manifest {
  const found = manifests.find(({ file, manifest }) => posix.dirname(file) === dir && manifest.kind === kind && manifest.metadata.name === name)
  assert.ok(found !== undefined, `${dir}/: ${kind} ${name}`)
  return found.manifest
}

const deployment = find('Deployment', 'ws-cluster')
const pod = (deployment.spec as { template: { metadata: { labels: Record<string, string> }, spec: PodSpec } }).template
const container = pod.spec.containers[0]
/** Both flavours of the config: plain (in-cluster) and PROXY protocol (behind the NLB). */
const configMaps = [find('ConfigMap', 'ws-cluster-config'), find('ConfigMap', 'ws-cluster-config', 'kubernetes/nlb-proxy-protocol')]
const configTexts = configMaps.map((cm) => (cm.data as Record<string, string>)[CONFIG_KEY])
const configs = configTexts.map((text) => JSON.parse(text) as ClusterConfigJson)

test('kubernetes: every manifest is valid against the Kubernetes schema (kubernetes-models), with no unknown field', () => {
  assert.ok(manifests.length >= 6, `found ${manifests.length} manifests`)
  for (const { file, manifest } of manifests) {
    assert.doesNotThrow(() => validateManifest(manifest), `${file}: ${manifest.kind} ${manifest.metadata?.name}`)
  }
  assert.deepEqual(unknownFieldProblems(manifests), [])
})

test('kubernetes: the schema checks catch what they should (a wrong enum, a misspelt field)', () => {
  const service = structuredClone(find('Service', 'ws-cluster'))
  ;(service.spec as Record<string, unknown>).sessionAffinity = 'ClientIp'
  assert.throws(() => validateManifest(service), /sessionAffinity/)
  const misspelt = structuredClone(deployment)
  ;(misspelt.spec as { template: { spec: Record<string, unknown> } }).template.spec.terminationGracePeriodSecond = 50
  assert.match(unknownFieldProblems([{ file: 'mutated', manifest: misspelt }]).join('\n'), /terminationGracePeriodSecond/)
})

test('kubernetes: the ConfigMaps carry configs that `ws-cluster check` accepts, at the path the container reads', async () => {
  const args = container.args
  assert.equal(args[0], 'start')
  const configPath = args[args.indexOf('--config') + 1]
  const configVolume = pod.spec.volumes.find((v) => v.configMap?.name === 'ws-cluster-config')
  assert.ok(configVolume !== undefined)
  const mount = container.volumeMounts.find((m) => m.name === configVolume.name)
  assert.equal(configPath, posix.join(mount?.mountPath ?? '', CONFIG_KEY))
  // The pod's environment overrides the file (WS_CLUSTER_WORKERS comes from the CPU limit, rounded up).
  const cpuLimit = Math.ceil(Number(container.resources.limits.cpu))
  for (const [i, text] of configTexts.entries()) {
    const result = await checkConfigAt(configPath, text, {}, { WS_CLUSTER_WORKERS: String(cpuLimit) })
    assert.equal(result.code, 0, `${configMaps[i].metadata.name} #${i}: ${result.stderr}`)
  }
  const workers = container.env.find((e) => e.name === 'WS_CLUSTER_WORKERS')
  assert.equal(workers?.valueFrom?.resourceFieldRef?.resource, 'limits.cpu', 'one worker per CPU of the pod, not of the node')
})

test('kubernetes: probes hit /livez and /readyz on the admin port, which binds 0.0.0.0; the Services target the client port', () => {
  const portNumber = (port: string | number): number => typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort ?? -1
  for (const config of configs) {
    assert.equal(config.admin.host, '0.0.0.0', 'the kubelet probes the pod IP')
    assert.equal(portNumber(container.livenessProbe.httpGet.port), config.admin.port)
    assert.equal(portNumber(container.readinessProbe.httpGet.port), config.admin.port)
    assert.equal(portNumber('ws'), config.listen.port)
  }
  assert.equal(container.livenessProbe.httpGet.path, '/livez')
  assert.equal(container.readinessProbe.httpGet.path, '/readyz')
  for (const { manifest } of manifests.filter((m) => m.manifest.kind === 'Service')) {
    const spec = manifest.spec as { selector: Record<string, string>, ports: Array<{ targetPort: string | number }> }
    for (const [key, label] of Object.entries(spec.selector)) assert.equal(pod.metadata.labels[key], label, `${manifest.metadata.name} selects the pods`)
    for (const port of spec.ports) assert.equal(portNumber(port.targetPort), configs[0].listen.port, `${manifest.metadata.name} targets the client port, never admin`)
  }
})

test('kubernetes: the probes answer on a real cluster running the PROXY-protocol config (the kubelet sends no PROXY header)', async () => {
  const dir = makeClusterDir()
  const config = configs[1]
  assert.equal(config.listen.proxyProtocol, true)
  const cluster = await startCluster(dir.dir, { ...config, listen: { ...config.listen, port: 0, host: '127.0.0.1' }, admin: { port: 0, host: '127.0.0.1' }, workers: 1 })
  try {
    const port = cluster.adminPort as number
    assert.equal((await httpGet(port, container.livenessProbe.httpGet.path)).status, 200)
    assert.equal((await httpGet(port, container.readinessProbe.httpGet.path)).status, 200)
  } finally {
    await cluster.kill()
    dir.cleanup()
  }
})

test('kubernetes: terminationGracePeriodSeconds covers the preStop sleep, shutdownTimeout and the workers\' exit margin', () => {
  const preStop = container.lifecycle.preStop.exec.command
  assert.equal(preStop[0], 'sleep', 'endpoints are removed before SIGTERM')
  const preStopMs = Number(preStop[1]) * 1000
  assert.ok(preStopMs >= 1000)
  for (const config of configs) {
    const needed = preStopMs + minimumStopBudgetMs(config)
    assert.ok(pod.spec.terminationGracePeriodSeconds * 1000 >= needed,
      `terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} s < preStop ${preStopMs} ms + shutdownTimeout ${shutdownTimeoutMs(config)} ms + margins = ${needed} ms`)
  }
})

test('kubernetes: sessionAffinity ClientIP in-cluster; the load balancer speaks PROXY protocol and its config expects it from trusted peers only', () => {
  const inCluster = find('Service', 'ws-cluster').spec as { sessionAffinity: string, type?: string }
  assert.equal(inCluster.sessionAffinity, 'ClientIP')
  assert.equal(configs[0].listen.proxyProtocol ?? false, false, 'in-cluster clients send no PROXY header')

  const nlb = manifests.find(({ file, manifest }) => file.startsWith('kubernetes/nlb-proxy-protocol/') && manifest.kind === 'Service')?.manifest
  assert.ok(nlb !== undefined)
  assert.equal((nlb.spec as { type: string }).type, 'LoadBalancer')
  assert.equal(nlb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-proxy-protocol'], '*')
  assert.equal(nlb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-healthcheck-path'], '/readyz')
  assert.equal(Number(nlb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-healthcheck-port']), configs[1].admin.port)
  assert.equal(configs[1].listen.proxyProtocol, true)
  assert.ok((configs[1].listen.trustedProxies ?? []).length > 0, 'the balancer\'s addresses are listed: without them only loopback is trusted')
})

test('kubernetes: non-root, read-only root filesystem, writable run folder, resources set', () => {
  assert.equal(pod.spec.securityContext.runAsNonRoot, true)
  assert.notEqual(pod.spec.securityContext.runAsUser, 0)
  assert.equal(container.securityContext.readOnlyRootFilesystem, true)
  assert.equal(container.securityContext.allowPrivilegeEscalation, false)
  assert.deepEqual(container.securityContext.capabilities.drop, ['ALL'])
  // The pid file and control socket need a writable folder: an emptyDir under the run folder.
  const runDir = container.env.find((e) => e.name === 'WS_CLUSTER_RUN_DIR')?.value ?? ''
  const writable = container.volumeMounts.filter((m) => pod.spec.volumes.find((v) => v.name === m.name)?.emptyDir !== undefined)
  assert.ok(writable.some((m) => runDir.startsWith(m.mountPath + '/')), `${runDir} is on an emptyDir`)
  for (const resource of ['cpu', 'memory']) {
    assert.ok(container.resources.requests[resource] !== undefined, `requests.${resource}`)
    assert.ok(container.resources.limits[resource] !== undefined, `limits.${resource}`)
  }
})
