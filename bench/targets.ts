import { ratio, type Summary } from './summary.js'

/**
 * The targets bench/README.md sets for ws-cluster, checked against peers
 * measured in the same run. A check whose reference path did not run is left
 * out rather than counted as met.
 */

export interface TargetCheck {
  path: string
  target: string
  measured: string
  met: boolean
}

export interface HeadlineSpecs {
  c1: string
  c50: string
  c256: string
  idle: string
}

const NODE_PEERS = ['fastify-http-proxy', 'http-proxy']

export function targetChecks (summary: Summary, h: HeadlineSpecs): TargetCheck[] {
  const checks: TargetCheck[] = []
  const cpu = (path: string) => summary.loops[h.c50]?.[path]?.proxyCpuUs
  const added = (path: string) => summary.loops[h.c1]?.[path]?.addedP50Us
  const idle = (path: string) => summary.connections[h.idle]?.[path]

  const tracked = ratio(cpu('wsc-plugin'), cpu('wsc-plugin-untracked'))
  if (tracked !== null) {
    checks.push({ path: 'wsc-plugin', target: 'frame-boundary tracking adds ≤ 3% proxy CPU/rt at C=50', measured: `${tracked.toFixed(3)} × untracked`, met: tracked <= 1.03 })
  }
  for (const path of ['wsc-plugin', 'wsc-cluster-1', 'wsc-cluster-auto']) {
    const own = cpu(path)
    if (own == null) continue
    const toNetpipe = ratio(own, cpu('netpipe'))
    if (toNetpipe !== null) {
      checks.push({ path, target: 'proxy CPU/rt at C=50 ≤ 1.05 × netpipe', measured: `${toNetpipe.toFixed(3)} ×`, met: toNetpipe <= 1.05 })
    }
    for (const peer of NODE_PEERS) {
      const toPeer = ratio(own, cpu(peer))
      if (toPeer !== null) {
        checks.push({ path, target: `proxy CPU/rt at C=50 below ${peer}`, measured: `${toPeer.toFixed(3)} ×`, met: toPeer < 1 })
      }
    }
    const toNginx = ratio(own, cpu('nginx'))
    if (toNginx !== null) {
      checks.push({ path, target: 'proxy CPU/rt at C=50 ≤ 1.3 × nginx', measured: `${toNginx.toFixed(3)} ×`, met: toNginx <= 1.3 })
    }
    const ownAdded = added(path)
    const nginxAdded = added('nginx')
    if (ownAdded != null && nginxAdded != null) {
      checks.push({
        path,
        target: 'added p50 at C=1 ≤ nginx + 10 µs',
        measured: `${ownAdded.median.toFixed(1)} µs vs nginx ${nginxAdded.median.toFixed(1)} µs`,
        met: ownAdded.median <= nginxAdded.median + 10
      })
    }
    const rss = idle(path)?.rssKiBPerConnection
    // The cluster's figure is its whole process tree, primary included.
    const rssLimit = path.startsWith('wsc-cluster') ? 10 : 12
    if (rss != null) {
      checks.push({ path, target: `RSS per idle connection ≤ ${rssLimit} KiB`, measured: `${rss.median.toFixed(1)} KiB`, met: rss.median <= rssLimit })
    }
    const upgrades = (id: string) => idle(id)?.upgradesPerSecond
    // Handshake rate (a reconnect storm): the cluster against nginx, the plugin alone against http-proxy.
    const [peer, least] = path === 'wsc-plugin' ? ['http-proxy', 1.2] : path === 'wsc-cluster-auto' ? ['nginx', 0.6] : [null, 0]
    const toPeerRate = peer === null ? null : ratio(upgrades(path), upgrades(peer))
    if (toPeerRate !== null) {
      checks.push({ path, target: `upgrades/s ≥ ${least} × ${peer}`, measured: `${toPeerRate.toFixed(3)} ×`, met: toPeerRate >= least })
    }
    if (path.startsWith('wsc-cluster')) {
      const handOff = idle(path)?.rootCpuUsPerUpgrade
      if (handOff != null) {
        checks.push({ path, target: 'primary CPU per hand-off ≤ 150 µs', measured: `${handOff.median.toFixed(1)} µs`, met: handOff.median <= 150 })
      }
    }
  }
  return checks
}
