import { readFileSync } from 'node:fs'

/** How often the primary looks whether its wrapper is still there. */
const WATCH_INTERVAL_MS = 500

/**
 * Whether this process was started by a package manager (`npx ws-cluster
 * start`, `npm start`, yarn, pnpm): they all set `npm_config_user_agent`
 * or `npm_lifecycle_event` for the scripts and binaries they run.
 */
export function startedByPackageManager (env: NodeJS.ProcessEnv): boolean {
  return (env.npm_config_user_agent ?? '') !== '' || (env.npm_lifecycle_event ?? '') !== ''
}

/** The parent pid of `pid` from /proc (Linux); null where there is no /proc or the process is gone. */
function parentOf (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so count from the last ')'.
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10)
    return Number.isInteger(ppid) ? ppid : null
  } catch {
    return null
  }
}

/**
 * R66: under a package manager the primary's parent is a shell
 * (`sh -c ws-cluster start`) whose parent is npm. A supervisor signals npm
 * only; npm passes the signal to the shell, the shell dies without passing
 * it on, npm exits, and the primary would run on as an orphan holding the
 * port. So while started that way the primary watches its parent and its
 * grandparent, and calls `onOrphaned` once when either is gone (the
 * parent pid changes). Started directly (node, systemd, a container's
 * command) nothing is watched: a daemonising shell may exit on purpose.
 * Returns a function that stops watching.
 *
 * @example
 * const unwatch = watchWrapper(process.env, (reason) => requestStop(reason))
 */
export function watchWrapper (env: NodeJS.ProcessEnv, onOrphaned: (reason: string) => void): () => void {
  if (!startedByPackageManager(env)) return () => {}
  const parent = process.ppid
  const grandparent = parentOf(parent)
  const timer = setInterval(() => {
    let reason: string | null = null
    if (process.ppid !== parent) reason = `the wrapper process ${parent} that started ws-cluster exited`
    else if (grandparent !== null && parentOf(parent) !== grandparent) reason = `the wrapper process ${grandparent} that started ws-cluster exited`
    if (reason === null) return
    clearInterval(timer)
    onOrphaned(reason)
  }, WATCH_INTERVAL_MS)
  // Watching must never be what keeps the primary alive.
  timer.unref()
  return () => clearInterval(timer)
}
