import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/*
 * What /proc (Linux) says about a process tree: the cluster's primary and its
 * workers are child processes of the test, so their descriptors and start
 * times are read there, while they run.
 */

/** Fields of /proc/PID/stat after the command name (which may hold spaces): state is [0], ppid [1], starttime [19]. */
function statFields (pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** `pid` and every live descendant of it. */
export function processTree (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(Number(entry))
    if (fields === null || fields[0] === 'Z') continue
    const parent = Number(fields[1])
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
  }
  const tree: number[] = []
  const visit = (p: number): void => {
    tree.push(p)
    for (const child of children.get(p) ?? []) visit(child)
  }
  visit(pid)
  return tree
}

function fdCount (pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return 0
  }
}

/** Open file descriptors of `pid` and of each descendant, by pid. */
export function treeFds (pid: number): Map<number, number> {
  return new Map(processTree(pid).map(p => [p, fdCount(p)]))
}

function total (fds: Map<number, number>): number {
  return [...fds.values()].reduce((a, b) => a + b, 0)
}

/**
 * R38 while the cluster runs: waits until the descriptors of `pid`'s whole
 * tree (primary and workers) are back at `baseline`, a count taken with
 * {@link treeFds} while it was idle, and throws naming each process when
 * they are not within `timeoutMs`.
 *
 * @example
 * const idle = treeFds(cluster.child.pid)
 * // ... open and close tunnels ...
 * await assertTreeFdsBackTo(cluster.child.pid, idle)
 */
export async function assertTreeFdsBackTo (pid: number, baseline: Map<number, number>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let now = treeFds(pid)
  while (total(now) > total(baseline) && Date.now() < deadline) {
    await sleep(50)
    now = treeFds(pid)
  }
  if (total(now) > total(baseline)) {
    const detail = [...now].map(([p, n]) => `${p}: ${n} (was ${baseline.get(p) ?? 'not running'})`).join(', ')
    throw new Error(`file descriptor leak in the cluster's processes: ${total(now)} open, baseline ${total(baseline)}; ${detail}`)
  }
}

let ticksPerSecond: number | null = null
let epochOfTick0: number | null = null

/** Clock ticks since boot at which a process started, from its /proc/PID/stat text. */
function startTicks (stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
}

/**
 * When `pid` started, in epoch milliseconds, to the kernel's clock tick
 * (10 ms). /proc gives start times in ticks since boot, and the boot time
 * only to the second; a `cat` started between two readings of the clock
 * pins the ticks to the wall clock.
 */
export function processStartedAt (pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  if (epochOfTick0 === null) {
    const before = Date.now()
    const stat = execFileSync('cat', ['/proc/self/stat'], { encoding: 'utf8' })
    const after = Date.now()
    epochOfTick0 = (before + after) / 2 - startTicks(stat) / ticksPerSecond * 1000
  }
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    throw new Error(`process ${pid} is gone`)
  }
  return epochOfTick0 + startTicks(stat) / ticksPerSecond * 1000
}
