import type { Worker } from 'node:cluster'
import type { Logger } from 'pino'
import type { ReloadOutcome } from './admin-server.js'
import type { ClusterConfig } from '../config/config-types.js'
import { appDigest, replaceReasons } from './reload-plan.js'
import { mergeReloadedConfig, rollSlots } from './rolling-reload.js'
import type { WorkerInfo } from './worker-process.js'
import type { WorkerSlots } from './worker-slots.js'
import { updateWorker } from './worker-update.js'

/** What a reload works with: the running config and the primary's workers and slots. */
export interface ReloadContext {
  running: ClusterConfig
  /** Digest of the running `app` file (see appDigest). */
  runningDigest: string | null
  workers: ReadonlyMap<Worker, WorkerInfo>
  slots: WorkerSlots
  spawn: (config: ClusterConfig, slot: number) => Promise<WorkerInfo>
  /** False once a stop began: a roll ends where it is. */
  proceed: () => boolean
  log: Logger
}

/**
 * R40: applies a re-read config. Every live worker first applies it in place
 * (routes, upstreams, timeouts, limits, certificates; tunnels whose server is
 * gone or down get 1012, spread over closeSpread; all other tunnels are left
 * alone). Only when something needs a new process (the `app` module, TLS on
 * or off, the log format, a plain-HTTP route, or a worker that could not
 * apply it) are the workers replaced slot by slot, the old ones keeping their
 * tunnels until they end or drainTimeout. What the primary bound (listen
 * address, admin, worker count) waits for a restart, and is reported.
 *
 * @example
 * const { outcome, config, digest } = await reloadWorkers(context, await loadConfig())
 */
export async function reloadWorkers (ctx: ReloadContext, next: ClusterConfig): Promise<{ outcome: ReloadOutcome, config: ClusterConfig, digest: string | null }> {
  const { log } = ctx
  const { config, restartOnly } = mergeReloadedConfig(ctx.running, next)
  if (restartOnly.length > 0) {
    log.warn({ changed: restartOnly }, 'these settings only take effect after a restart; the rest of the new config is applied')
  }
  const digest = appDigest(config.app)
  const reasons = replaceReasons(ctx.running, config, { running: ctx.runningDigest, next: digest })

  // Draining workers apply it too, so tunnels to a removed server end everywhere; only serving workers decide the kind.
  const live = [...ctx.workers.values()].filter((info) => info.state !== 'starting')
  const answers = await Promise.all(live.map(async (info) => ({ info, answer: await updateWorker(info.worker, config) })))
  const serving = answers.filter(({ info }) => info.state === 'serving')
  const notApplied = new Map<string, string>()
  for (const { info, answer } of serving) {
    if ('error' in answer) notApplied.set(`worker ${info.pid}`, `could not apply it in place: ${answer.error}`)
    else for (const change of answer.result.notApplied) notApplied.set(change.path, change.change)
  }
  reasons.push(...[...notApplied].map(([path, change]) => `${path}: ${change}`))
  const first = serving.map(({ answer }) => answer).find((answer) => 'result' in answer)
  const changes = first !== undefined && 'result' in first ? first.result.applied : []
  let closing = 0
  for (const { answer } of answers) if ('result' in answer) closing += answer.result.closing
  const common = { changes, closing, restartOnly, drainTimeout: config.drainTimeout }

  if (reasons.length === 0) {
    log.info({ kind: 'in-place', workers: serving.length, changes: changes.length, closing }, 'reload complete')
    return { outcome: { ok: true, kind: 'in-place', reasons, updated: serving.length, replaced: 0, ...common }, config, digest }
  }
  log.info({ reasons }, 'reload replaces the workers: the old ones keep their tunnels until they end or drainTimeout')
  const rolled = await rollSlots({
    slots: ctx.slots,
    workers: ctx.workers,
    spawn: async (slot) => await ctx.spawn(config, slot),
    times: config,
    proceed: ctx.proceed,
    log
  })
  log.info({ kind: 'replaced', replaced: rolled.replaced, reasons }, 'reload complete')
  return { outcome: { ...rolled, kind: 'replaced', reasons, updated: 0, ...common }, config, digest }
}
