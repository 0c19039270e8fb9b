import { ListenError } from '../cluster-errors.js'

/** What the usual reasons a listener cannot open mean, in words (the errno stays in brackets for searches). */
const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'this machine has no such address',
  EAFNOSUPPORT: 'address family not supported',
  ENOTFOUND: 'no such host'
}

type ListenFailure = NodeJS.ErrnoException & { address?: string, port?: number }

function hostPort (address: string, port: number | undefined): string {
  if (port === undefined) return address
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * Turns Node's listen error (`listen EADDRINUSE: address already in use
 * 0.0.0.0:8080`, with a stack) into a {@link ListenError} whose message is
 * the one line an operator needs; other errors pass through unchanged.
 *
 * @example
 * startFailure(err).message
 * // 'cannot listen on 0.0.0.0:8080: address already in use (EADDRINUSE)'
 */
export function startFailure (err: unknown): Error {
  const failure = err as ListenFailure
  if (failure?.syscall !== 'listen' || failure.address === undefined) return err as Error
  const code = failure.code ?? 'error'
  const reason = LISTEN_REASONS[code] ?? failure.message.replace(/^listen \w+: /, '').replace(/ \S+$/, '')
  return new ListenError(hostPort(failure.address, failure.port), `${reason} (${code})`, { cause: err })
}
