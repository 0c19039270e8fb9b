import type { BalanceMethod } from '../../plugin/index.js'
import { reasonFor } from './directive-reasons.js'
import { parseServerAddress } from './nginx-addresses.js'
import { directiveText, type NginxDirective } from './nginx-parser.js'
import { formatDuration, parseCount, parseNginxTime, soleVariable } from './nginx-values.js'
import type { ServerDraft, TranslationState, UpstreamDraft } from './translation-state.js'

const HASH_KEYS_ALLOWED = 'ws-cluster hashes on $remote_addr, $http_NAME, $arg_NAME or $cookie_NAME'

/**
 * The ws-cluster `hashKey` for an nginx `hash` key, or why there is none.
 *
 * @example
 * hashKeyFor('$http_x_user_id') // { ok: true, hashKey: 'header:x-user-id' }
 */
export function hashKeyFor (key: string): { ok: true, hashKey: string, note?: string } | { ok: false, reason: string } {
  const variable = soleVariable(key)
  if (variable === 'remote_addr') return { ok: true, hashKey: 'remote-addr' }
  if (variable === 'binary_remote_addr') {
    return { ok: true, hashKey: 'remote-addr', note: 'ws-cluster hashes the address as text, so clients may land on other servers than under nginx\'s binary key' }
  }
  const match = variable === null ? null : /^(http|arg|cookie)_(\w+)$/.exec(variable)
  if (match === null) return { ok: false, reason: `${HASH_KEYS_ALLOWED}; "${key}" is none of them` }
  // nginx spells header names in variables with "_" for "-".
  if (match[1] === 'http') return { ok: true, hashKey: `header:${match[2].replaceAll('_', '-').toLowerCase()}` }
  return { ok: true, hashKey: `${match[1] === 'arg' ? 'query' : 'cookie'}:${match[2]}` }
}

const FLAGS = ['backup', 'down'] as const

function parseServer (state: TranslationState, directive: NginxDirective, upstream: string): ServerDraft | null {
  const address = parseServerAddress(directive.args[0]?.value ?? '')
  if (!address.ok) {
    state.notes.notTranslated(directive, address.reason)
    return null
  }
  const server: ServerDraft = { host: address.value.host, port: address.value.port, options: {} }
  const where = `upstream ${upstream}: server ${directive.args[0].value}`
  for (const arg of directive.args.slice(1)) {
    const [key, value = ''] = arg.value.split('=', 2)
    const count = parseCount(value)
    const time = parseNginxTime(value)
    if (key === 'weight' && count !== null) server.options.weight = count
    else if (key === 'max_fails' && count !== null) server.options.maxFails = count
    else if (key === 'max_conns' && count !== null) server.options.maxConns = count
    else if (key === 'fail_timeout' && time !== null) server.options.failTimeout = formatDuration(time)
    else if ((FLAGS as readonly string[]).includes(arg.value)) server.options[arg.value as typeof FLAGS[number]] = true
    else if (arg.value === 'resolve') state.notes.note(directive.line, `${where}: "resolve" is built in: ws-cluster looks the name up for every new connection`)
    else state.notes.add('not translated', directive.line, `${where}: parameter "${arg.value}" — ${['slow_start', 'service', 'route', 'drain'].includes(key) ? 'an NGINX Plus server parameter with no ws-cluster equivalent' : 'not a server parameter ws-cluster knows (weight, max_fails, fail_timeout, max_conns, backup, down)'}`)
  }
  state.notes.mark(directive, 'translated')
  return server
}

function setBalance (state: TranslationState, draft: UpstreamDraft, directive: NginxDirective, balance: BalanceMethod, hashKey?: string): void {
  if (draft.balance !== undefined) {
    state.notes.notTranslated(directive, `a second balancing method in upstream ${draft.name} (nginx refuses that too); "${draft.balance}" is kept`)
    return
  }
  draft.balance = balance
  if (hashKey !== undefined) draft.hashKey = hashKey
  state.notes.mark(directive, 'translated')
}

function translateHash (state: TranslationState, draft: UpstreamDraft, directive: NginxDirective): void {
  const [key, consistent] = directive.args.map(a => a.value)
  if (key === undefined || (consistent !== undefined && consistent !== 'consistent') || directive.args.length > 2) {
    state.notes.notTranslated(directive, 'expected "hash KEY" or "hash KEY consistent"')
    return
  }
  const mapped = hashKeyFor(key)
  if (!mapped.ok) {
    state.notes.notTranslated(directive, `${mapped.reason}; the group falls back to round-robin, so clients are not pinned to a server`)
    return
  }
  setBalance(state, draft, directive, 'hash', mapped.hashKey)
  if (mapped.note !== undefined) state.notes.note(directive.line, `${directiveText(directive)}: ${mapped.note}`)
  if (consistent === undefined) {
    state.notes.note(directive.line, `${directiveText(directive)} → balance "hash": ws-cluster's hash is always ketama-consistent (as "hash ${key} consistent"), ` +
      'so clients may map to other servers than nginx\'s plain hash chose, but fewer move when servers come and go')
  }
}

function translateRandom (state: TranslationState, draft: UpstreamDraft, directive: NginxDirective): void {
  const args = directive.args.map(a => a.value)
  if (args[0] !== 'two') {
    state.notes.notTranslated(directive, 'ws-cluster has no plain random balancing; the group stays round-robin ("random two" would be "random-two")')
    return
  }
  setBalance(state, draft, directive, 'random-two')
  if (args[1] !== undefined && args[1] !== 'least_conn') {
    state.notes.note(directive.line, `${directiveText(directive)} → "random-two", which picks the server with fewer connections of two random ones (least_conn); "${args[1]}" is NGINX Plus only`)
  }
}

function translateChild (state: TranslationState, draft: UpstreamDraft, directive: NginxDirective): void {
  const { notes } = state
  const noArgs = directive.args.length === 0
  switch (directive.name) {
    case 'server': {
      const server = parseServer(state, directive, draft.name)
      if (server !== null) draft.servers.push(server)
      return
    }
    case 'ip_hash':
      if (noArgs) setBalance(state, draft, directive, 'ip-hash')
      else notes.notTranslated(directive, 'ip_hash takes no arguments')
      return
    case 'least_conn':
      if (noArgs) setBalance(state, draft, directive, 'least-conn')
      else notes.notTranslated(directive, 'least_conn takes no arguments')
      return
    case 'hash':
      translateHash(state, draft, directive)
      return
    case 'random':
      translateRandom(state, draft, directive)
      return
    case 'keepalive': {
      const count = directive.args.length === 1 ? parseCount(directive.args[0].value) : null
      if (count === null) {
        notes.notTranslated(directive, 'expected "keepalive N"')
        return
      }
      draft.keepalive = count
      notes.mark(directive, 'translated')
      notes.note(directive.line, `keepalive ${count} → "keepalive": ${count}, idle connections kept for plain HTTP only; upgraded WebSocket connections are never pooled`)
      return
    }
    case 'keepalive_timeout':
    case 'keepalive_requests':
    case 'keepalive_time':
      notes.notTranslated(directive, 'ws-cluster\'s upstream pool only has a size ("keepalive"); idle sockets follow Node\'s agent')
      return
    case 'zone':
      notes.notTranslated(directive, 'no shared memory zone in ws-cluster: each worker keeps its own server state (failures, connection counts)')
      return
    default:
      notes.notTranslated(directive, reasonFor(directive.name))
  }
}

/** Translates `upstream NAME { ... }` into a group draft in `state.upstreams`. */
export function translateUpstream (state: TranslationState, directive: NginxDirective): void {
  const name = directive.args[0]?.value
  if (directive.block === null || directive.args.length !== 1 || name === undefined) {
    state.notes.notTranslated(directive, 'expected "upstream NAME { ... }"')
    return
  }
  if (state.upstreams.has(name)) {
    state.notes.notTranslated(directive, `upstream ${name} is defined twice (nginx refuses that); the first one is kept`)
    return
  }
  const draft: UpstreamDraft = { name, line: directive.line, servers: [], generated: false }
  state.upstreams.set(name, draft)
  state.notes.mark(directive, 'translated')
  for (const child of directive.block) translateChild(state, draft, child)
  if (draft.servers.length === 0) state.notes.warn(directive.line, `upstream ${name} has no server ws-cluster can use`)
}
