import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/**
 * CPU and memory of process trees, read from /proc (Linux only). The bench uses
 * these instead of in-process counters so that every proxy — Node, nginx,
 * HAProxy, a cluster primary with its workers — is measured the same way.
 */

function readConf (name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim())
    return Number.isFinite(value) && value > 0 ? value : fallback
  } catch {
    return fallback
  }
}

/** Kernel clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
export const CLOCK_TICKS = readConf('CLK_TCK', 100)
const PAGE_KIB = readConf('PAGESIZE', 4096) / 1024

interface ProcStat {
  ppid: number
  /** utime + stime + cutime + cstime: own CPU plus that of reaped children. */
  ticks: number
}

function readProcStat (pid: number): ProcStat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // The command name may hold spaces and parentheses, so fields are counted from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
  }
}

/** The parent of `pid`, or null once it is gone. */
export function parentPid (pid: number): number | null {
  return readProcStat(pid)?.ppid ?? null
}

/** `root` and all its descendants, found by walking every process's parent pid. */
export function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    const stat = readProcStat(pid)
    if (stat === null) continue
    const list = children.get(stat.ppid)
    if (list === undefined) children.set(stat.ppid, [pid])
    else list.push(pid)
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []))
  return tree
}

/** Summed CPU ticks of `pids` (processes that are gone count 0). */
export function cpuTicks (pids: readonly number[]): number {
  let sum = 0
  for (const pid of pids) sum += readProcStat(pid)?.ticks ?? 0
  return sum
}

/** Summed resident memory of `pids` in KiB. */
export function rssKiB (pids: readonly number[]): number {
  let sum = 0
  for (const pid of pids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE_KIB
    } catch {}
  }
  return sum
}

/**
 * Process time (user + nice + system) and total ticks of the whole machine from
 * the first line of /proc/stat. Interrupt and softirq time is left out of `busy`
 * on purpose: the kernel charges it to no process (loopback TCP delivery runs
 * there), so counting it would make the bench's own traffic look like "others".
 */
export function machineTicks (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  const busy = user + nice + system
  return { busy, total: busy + idle + iowait + irq + softirq + (steal ?? 0) }
}

/** The processes one measurement window looks at. */
export interface WatchedProcesses {
  /** Root of the proxy's process tree (a cluster primary, an nginx master), or 0 for none (direct). */
  proxyRoot: number
  /** The bench's own processes (client, backend, orchestrator): not the proxy, but not "others" either. */
  harness: number[]
}

export interface CpuSample {
  at: number
  /** CLOCK_MONOTONIC in µs, the clock V8's CPU profiles use, so a profile can be cut to the window. */
  monotonicUs: number
  proxyTicks: number
  proxyRootTicks: number
  harnessTicks: number
  machine: { busy: number, total: number }
}

/** One reading at a window edge; `tree` is looked up once per window, at its start. */
export function sampleCpu (watched: WatchedProcesses, tree: readonly number[]): CpuSample {
  return {
    at: performance.now(),
    monotonicUs: Number(process.hrtime.bigint() / 1000n),
    proxyTicks: cpuTicks(tree),
    proxyRootTicks: watched.proxyRoot === 0 ? 0 : cpuTicks([watched.proxyRoot]),
    harnessTicks: cpuTicks(watched.harness),
    machine: machineTicks()
  }
}

export interface CpuWindow {
  seconds: number
  startMonotonicUs: number
  endMonotonicUs: number
  proxyCpuSeconds: number
  proxyRootCpuSeconds: number
  harnessCpuSeconds: number
  /** Share of all cores used by processes that are neither the proxy nor the harness. */
  othersShare: number
}

export function cpuWindow (start: CpuSample, end: CpuSample): CpuWindow {
  const proxy = end.proxyTicks - start.proxyTicks
  const harness = end.harnessTicks - start.harnessTicks
  const busy = end.machine.busy - start.machine.busy
  const total = Math.max(1, end.machine.total - start.machine.total)
  return {
    seconds: (end.at - start.at) / 1000,
    startMonotonicUs: start.monotonicUs,
    endMonotonicUs: end.monotonicUs,
    proxyCpuSeconds: proxy / CLOCK_TICKS,
    proxyRootCpuSeconds: (end.proxyRootTicks - start.proxyRootTicks) / CLOCK_TICKS,
    harnessCpuSeconds: harness / CLOCK_TICKS,
    othersShare: Math.max(0, busy - proxy - harness) / total
  }
}
