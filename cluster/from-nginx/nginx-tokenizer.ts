/**
 * The lexical layer of nginx's configuration syntax, written after the rules
 * of nginx's own reader (ngx_conf_read_token): words separated by white
 * space, `{` `}` `;` as punctuation, `#` comments that start only where a
 * word could start, single or double quotes with backslash escapes, and
 * `${name}` variables whose braces do not open or close blocks.
 */

/** A syntax error in the nginx file, located by 1-based line and column. */
export class NginxSyntaxError extends Error {
  readonly code = 'WS_CLUSTER_NGINX_SYNTAX'
  readonly line: number
  readonly column: number

  constructor (line: number, column: number, message: string) {
    super(`line ${line}, column ${column}: ${message}`)
    this.name = 'NginxSyntaxError'
    this.line = line
    this.column = column
  }
}

export type TokenKind = 'word' | 'open' | 'close' | 'semicolon'

export interface Token {
  kind: TokenKind
  /** For words, the value with quotes removed and escapes applied; otherwise the punctuation itself. */
  text: string
  /** The word was written in quotes (so `"{"` or `""` is data, never syntax). */
  quoted: boolean
  line: number
  column: number
  /** Where the token ends (after a closing quote), for errors about what should follow it. */
  endLine: number
  endColumn: number
  /** The token is the first one on its line (used to spot a missing `;`). */
  startsLine: boolean
}

const SPACE = new Set([' ', '\t', '\r', '\n'])
const PUNCTUATION: Record<string, TokenKind> = { '{': 'open', '}': 'close', ';': 'semicolon' }

/** nginx unescapes only these; any other `\x` stays as written (regexes keep their backslashes). */
const ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', t: '\t', r: '\r', n: '\n' }

class Cursor {
  index = 0
  line = 1
  column = 1
  constructor (readonly text: string) {
    // Editors on Windows may save a byte order mark; nginx would read it as part of the first word.
    if (text.startsWith('\uFEFF')) this.index = 1
  }

  get done (): boolean { return this.index >= this.text.length }
  peek (offset = 0): string { return this.text[this.index + offset] ?? '' }

  next (): string {
    const ch = this.text[this.index++]
    if (ch === '\n') {
      this.line++
      this.column = 1
    } else {
      this.column++
    }
    return ch
  }
}

function readQuoted (cursor: Cursor, quote: string, line: number, column: number): string {
  cursor.next()
  let value = ''
  while (!cursor.done) {
    const ch = cursor.next()
    if (ch === quote) return value
    if (ch === '\\' && !cursor.done) {
      const escaped = cursor.next()
      value += ESCAPES[escaped] ?? `\\${escaped}`
      continue
    }
    value += ch
  }
  throw new NginxSyntaxError(line, column, `unterminated string: the ${quote === '"' ? 'double' : 'single'} quote opened here is never closed`)
}

function readWord (cursor: Cursor): string {
  let value = ''
  let braceVariable = false
  while (!cursor.done) {
    const ch = cursor.peek()
    if (braceVariable) {
      // Inside `${name}`: the closing brace belongs to the variable, not to a block.
      value += cursor.next()
      if (ch === '}') braceVariable = false
      continue
    }
    if (SPACE.has(ch) || ch === ';' || ch === '{' || ch === '}') break
    if (ch === '$' && cursor.peek(1) === '{') {
      braceVariable = true
      value += cursor.next() + cursor.next()
      continue
    }
    if (ch === '\\' && cursor.index + 1 < cursor.text.length) {
      cursor.next()
      const escaped = cursor.next()
      value += ESCAPES[escaped] ?? `\\${escaped}`
      continue
    }
    value += cursor.next()
  }
  return value
}

/**
 * Splits nginx configuration text into tokens with their line and column.
 * Throws {@link NginxSyntaxError} for an unterminated quote or a quote
 * glued to the next word (`"a"b`), as nginx does.
 *
 * @example
 * tokenize('listen 80;').map(t => t.text) // ['listen', '80', ';']
 */
export function tokenize (text: string): Token[] {
  const cursor = new Cursor(text)
  const tokens: Token[] = []
  let lastLine = 0
  const push = (kind: TokenKind, value: string, quoted: boolean, line: number, column: number): void => {
    tokens.push({ kind, text: value, quoted, line, column, endLine: cursor.line, endColumn: cursor.column, startsLine: line !== lastLine })
    lastLine = cursor.line
  }
  while (!cursor.done) {
    const ch = cursor.peek()
    if (SPACE.has(ch)) {
      cursor.next()
      continue
    }
    const { line, column } = cursor
    if (ch === '#') {
      while (!cursor.done && cursor.peek() !== '\n') cursor.next()
      continue
    }
    const punctuation = PUNCTUATION[ch]
    if (punctuation !== undefined) {
      cursor.next()
      push(punctuation, ch, false, line, column)
      continue
    }
    if (ch === '"' || ch === "'") {
      const value = readQuoted(cursor, ch, line, column)
      const after = cursor.peek()
      if (!cursor.done && !SPACE.has(after) && after !== ';' && after !== '{' && after !== '}') {
        throw new NginxSyntaxError(cursor.line, cursor.column, `unexpected "${after}" right after a quoted string (put a space or ";" after the closing quote)`)
      }
      push('word', value, true, line, column)
      continue
    }
    push('word', readWord(cursor), false, line, column)
  }
  return tokens
}
