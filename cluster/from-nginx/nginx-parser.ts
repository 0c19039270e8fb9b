import { NginxSyntaxError, tokenize, type Token } from './nginx-tokenizer.js'

export { NginxSyntaxError }

/** One word after a directive's name. */
export interface NginxArg {
  value: string
  quoted: boolean
  line: number
  column: number
}

/** `name arg...;` or `name arg... { ... }`, where it was written. */
export interface NginxDirective {
  name: string
  args: NginxArg[]
  line: number
  column: number
  /** The directives inside `{ }`, or null for a simple directive ended by `;`. */
  block: NginxDirective[] | null
}

export interface ParseOptions {
  /**
   * Names that certainly start a directive. A word with such a name that
   * opens a new line inside another directive's arguments means the line
   * before lacks its `;` (nginx itself would only see too many arguments).
   */
  isDirectiveName?: (name: string) => boolean
}

interface OpenBlock {
  directive: NginxDirective
  children: NginxDirective[]
}

function quote (text: string): string {
  return text.length > 40 ? `"${text.slice(0, 37)}..."` : `"${text}"`
}

function describe (words: Token[]): string {
  return quote(words.map(w => w.text).join(' '))
}

function toDirective (words: Token[], block: NginxDirective[] | null): NginxDirective {
  const [name, ...args] = words
  return {
    name: name.text,
    args: args.map(a => ({ value: a.text, quoted: a.quoted, line: a.line, column: a.column })),
    line: name.line,
    column: name.column,
    block
  }
}

function checkMissingSemicolon (words: Token[], options: ParseOptions): void {
  if (options.isDirectiveName === undefined) return
  for (let i = 1; i < words.length; i++) {
    const word = words[i]
    if (word.startsLine && !word.quoted && options.isDirectiveName(word.text)) {
      const before = words[i - 1]
      throw new NginxSyntaxError(before.endLine, before.endColumn,
        `missing ";" at the end of line ${before.line}: ${describe(words.slice(0, i))} runs into "${word.text}" on line ${word.line}`)
    }
  }
}

/**
 * Parses nginx configuration text into a tree of directives, each with the
 * line and column of its name. Throws {@link NginxSyntaxError} naming the
 * line (and column) for unbalanced braces, unterminated strings, a directive
 * without its `;`, or a stray `;`/`{`.
 *
 * @example
 * const [http] = parseNginx('http { server { listen 80; } }')
 * http.block?.[0].block?.[0].args[0].value // '80'
 */
export function parseNginx (text: string, options: ParseOptions = {}): NginxDirective[] {
  const root: NginxDirective[] = []
  const stack: OpenBlock[] = []
  let words: Token[] = []
  const current = (): NginxDirective[] => stack.length === 0 ? root : stack[stack.length - 1].children

  for (const token of tokenize(text)) {
    if (token.kind === 'word') {
      words.push(token)
      continue
    }
    if (token.kind === 'semicolon') {
      if (words.length === 0) throw new NginxSyntaxError(token.line, token.column, 'unexpected ";": there is no directive before it')
      checkMissingSemicolon(words, options)
      current().push(toDirective(words, null))
      words = []
      continue
    }
    if (token.kind === 'open') {
      if (words.length === 0) throw new NginxSyntaxError(token.line, token.column, 'unexpected "{": a block needs a directive name before it')
      checkMissingSemicolon(words, options)
      const directive = toDirective(words, [])
      current().push(directive)
      stack.push({ directive, children: directive.block as NginxDirective[] })
      words = []
      continue
    }
    if (words.length > 0) {
      const last = words[words.length - 1]
      throw new NginxSyntaxError(last.endLine, last.endColumn,
        `missing ";" after ${describe(words)} (line ${words[0].line}) before the "}" on line ${token.line}`)
    }
    if (stack.length === 0) throw new NginxSyntaxError(token.line, token.column, 'unexpected "}": no block is open here (one "}" too many?)')
    stack.pop()
  }

  if (words.length > 0) {
    const last = words[words.length - 1]
    throw new NginxSyntaxError(last.endLine, last.endColumn,
      `unexpected end of file: ${describe(words)} (line ${words[0].line}) has no ";"` +
      (stack.length > 0 ? ` and the block "${stack[stack.length - 1].directive.name} {" opened on line ${stack[stack.length - 1].directive.line} is not closed` : ''))
  }
  if (stack.length > 0) {
    const open = stack[stack.length - 1].directive
    const more = stack.length > 1 ? ` (${stack.length} blocks are open)` : ''
    throw new NginxSyntaxError(open.line, open.column, `unexpected end of file: the block "${[open.name, ...open.args.map(a => a.value)].join(' ')} {" opened here is never closed with "}"${more}`)
  }
  return root
}

/** The directive as written, shortened for messages: `proxy_pass http://backend`. */
export function directiveText (directive: NginxDirective): string {
  const text = [directive.name, ...directive.args.map(a => (a.quoted || a.value === '' ? JSON.stringify(a.value) : a.value))].join(' ')
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** Every directive in the tree, depth first, in file order. */
export function * walkDirectives (directives: readonly NginxDirective[]): Generator<NginxDirective> {
  for (const directive of directives) {
    yield directive
    if (directive.block !== null) yield * walkDirectives(directive.block)
  }
}
