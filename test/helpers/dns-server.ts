import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { AUTHORITATIVE_ANSWER, RECURSION_DESIRED, decode, encode, type Answer, type Packet } from 'dns-packet'

/** The records one name answers with; a type left out answers "no data" (NOERROR, empty). */
export interface NameRecords {
  A?: string[]
  AAAA?: string[]
  SRV?: Array<{ priority: number, weight: number, port: number, target: string }>
  /** TTL of every record of the name, in seconds. Default 30. */
  ttl?: number
}

/**
 * A small authoritative DNS server on 127.0.0.1 (UDP) whose zone the test
 * edits while the proxy re-resolves: names not in the zone get NXDOMAIN,
 * `failWith('SERVFAIL')` makes every answer a server failure, `down()`
 * closes the socket (queries are refused by the kernel) and `up()` reopens
 * it on the same port. dns-packet encodes and decodes the messages.
 */
export interface TestDnsServer {
  port: number
  /** `127.0.0.1:PORT`, as `upstreams.NAME.resolver` takes it. */
  address: string
  /** Questions received, as `TYPE name`. */
  queries: string[]
  set: (name: string, records: NameRecords) => void
  remove: (name: string) => void
  failWith: (rcode: 'SERVFAIL' | null) => void
  down: () => Promise<void>
  up: () => Promise<void>
  close: () => Promise<void>
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const

function normalize (name: string): string {
  return name.toLowerCase().replace(/\.$/, '')
}

function answersFor (records: NameRecords, name: string, type: string): Answer[] {
  const ttl = records.ttl ?? 30
  if (type === 'A') return (records.A ?? []).map(data => ({ type: 'A', name, ttl, data }))
  if (type === 'AAAA') return (records.AAAA ?? []).map(data => ({ type: 'AAAA', name, ttl, data }))
  if (type === 'SRV') return (records.SRV ?? []).map(data => ({ type: 'SRV', name, ttl, data }))
  return []
}

export async function startDnsServer (): Promise<TestDnsServer> {
  const zone = new Map<string, NameRecords>()
  const queries: string[] = []
  let failure: 'SERVFAIL' | null = null
  let socket: Socket | null = null
  let port = 0

  function answer (message: Buffer, rinfo: { address: string, port: number }, from: Socket): void {
    let query
    try {
      query = decode(message)
    } catch {
      return
    }
    const question = query.questions?.[0]
    if (question === undefined) return
    queries.push(`${question.type} ${normalize(question.name)}`)
    const records = zone.get(normalize(question.name))
    const rcode = failure !== null ? RCODES[failure] : records === undefined ? RCODES.NXDOMAIN : RCODES.NOERROR
    const response: Packet = {
      type: 'response',
      id: query.id,
      flags: AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & RECURSION_DESIRED) | rcode,
      questions: [question],
      answers: rcode === RCODES.NOERROR && records !== undefined ? answersFor(records, question.name, question.type) : []
    }
    from.send(encode(response), rinfo.port, rinfo.address)
  }

  async function bind (wanted: number): Promise<void> {
    const next = createSocket('udp4')
    next.on('message', (message, rinfo) => answer(message, rinfo, next))
    next.on('error', () => {})
    next.bind(wanted, '127.0.0.1')
    await once(next, 'listening')
    socket = next
    port = next.address().port
  }

  async function unbind (): Promise<void> {
    const current = socket
    socket = null
    if (current === null) return
    await new Promise<void>(resolve => current.close(() => resolve()))
  }

  await bind(0)
  return {
    port,
    address: `127.0.0.1:${port}`,
    queries,
    set: (name, records) => { zone.set(normalize(name), records) },
    remove: (name) => { zone.delete(normalize(name)) },
    failWith: (rcode) => { failure = rcode },
    down: unbind,
    up: async () => { if (socket === null) await bind(port) },
    close: unbind
  }
}
