/**
 * A reader for systemd unit files, enough to check ours: sections, repeated
 * keys in order, `#`/`;` comments, and lines continued with a trailing
 * backslash (systemd.syntax(7)).
 */
export type Unit = Map<string, Map<string, string[]>>

export function parseUnit (text: string): Unit {
  const unit: Unit = new Map()
  let section: Map<string, string[]> | null = null
  const logical: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (pending === '' && /^\s*[#;]/.test(line)) continue
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    logical.push(pending + line)
    pending = ''
  }
  for (const line of logical) {
    const trimmed = line.trim()
    if (trimmed === '') continue
    const header = /^\[([^\]]+)\]$/.exec(trimmed)
    if (header !== null) {
      section = unit.get(header[1]) ?? new Map()
      unit.set(header[1], section)
      continue
    }
    const eq = trimmed.indexOf('=')
    if (section === null || eq <= 0) throw new Error(`not a unit file line: ${JSON.stringify(trimmed)}`)
    const key = trimmed.slice(0, eq).trim()
    const values = section.get(key) ?? []
    values.push(trimmed.slice(eq + 1).trim())
    section.set(key, values)
  }
  return unit
}

/** Every value of a key in a section, in file order (empty when unset). */
export function values (unit: Unit, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? []
}

/** The effective (last) value of a key, or undefined. */
export function value (unit: Unit, section: string, key: string): string | undefined {
  return values(unit, section, key).at(-1)
}

const SPAN_UNITS: Array<[RegExp, number]> = [
  [/^(us|usec)$/, 0.001],
  [/^(ms|msec)$/, 1],
  [/^(s|sec|second|seconds)?$/, 1000],
  [/^(m|min|minute|minutes)$/, 60_000],
  [/^(h|hr|hour|hours)$/, 3_600_000],
  [/^(d|day|days)$/, 86_400_000]
]

/** A systemd time span (`45`, `45s`, `1min 30s`, `2h`) in milliseconds (systemd.time(7)); `infinity` is Infinity. */
export function timeSpanMs (text: string): number {
  if (text.trim() === 'infinity') return Infinity
  const parts = text.trim().match(/\d+(?:\.\d+)?\s*[a-z]*/g)
  if (parts === null || parts.join('').replace(/\s/g, '') !== text.replace(/\s/g, '')) throw new Error(`not a time span: ${JSON.stringify(text)}`)
  let total = 0
  for (const part of parts) {
    const [, amount, suffix] = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(part) as RegExpExecArray
    const factor = SPAN_UNITS.find(([unitRe]) => unitRe.test(suffix))?.[1]
    if (factor === undefined) throw new Error(`unknown time unit ${JSON.stringify(suffix)} in ${JSON.stringify(text)}`)
    total += Number(amount) * factor
  }
  return total
}

/**
 * Splits a command line the way systemd does for Exec*= (whitespace, double
 * and single quotes), after dropping the `-`, `@`, `:`, `+`, `!` prefixes.
 */
export function commandArgv (line: string): string[] {
  const withoutPrefixes = line.replace(/^[-@:+!]+/, '')
  const argv: string[] = []
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g
  let match: RegExpExecArray | null
  while ((match = re.exec(withoutPrefixes)) !== null) argv.push(match[1] ?? match[2] ?? match[3])
  return argv
}
