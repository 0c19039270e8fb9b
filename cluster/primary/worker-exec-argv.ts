/**
 * The node flags workers are forked with. V8 lets a process's young
 * generation grow to 16 MiB per semi-space after a burst of allocation (a
 * reconnect storm opening thousands of tunnels is one) and keeps it. In a
 * worker that then holds those tunnels idle, that is RSS spent on nothing:
 * bench W3 measured 11.6 KiB per idle tunnel in a worker with V8's default
 * and 7.5 KiB with a 1 MiB ceiling. Objects of a tunnel live as long as the
 * tunnel, so promoting them early costs nothing; the per-chunk garbage of
 * the byte path dies young either way.
 *
 * An operator's own choice wins: a `--max-semi-space-size` in the primary's
 * node flags or in NODE_OPTIONS (which workers inherit) is left alone.
 *
 * @example
 * cluster.setupPrimary({ exec, execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) })
 */
export const WORKER_SEMI_SPACE_MIB = 1

const SEMI_SPACE_FLAG = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/

export function workerExecArgv (execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const chosen = execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) || SEMI_SPACE_FLAG.test(nodeOptions ?? '')
  return chosen ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]
}
