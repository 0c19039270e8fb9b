import { visit } from 'jsonc-parser'

/** Why a JSON text does not parse, pointing at the first bad character (1-based, like editors and compilers). */
export interface JsonSyntaxProblem {
  line: number
  column: number
  message: string
}

/**
 * V8 words its errors well ("Expected ',' or '}' after property value") but
 * gives at most a character offset, and for an unexpected token not even
 * that; it also quotes the whole text. Keep its words, drop the rest.
 */
function v8Words (err: Error): string {
  return err.message
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/, ".*" is not valid JSON$/s, '')
}

/**
 * Parses a config file's JSON. On a syntax error, returns where it is:
 * JSON.parse keeps the semantics (duplicate keys, numbers) everybody knows,
 * and jsonc-parser, which reads JSON the way editors do, supplies the line
 * and column of the first error.
 *
 * @example
 * parseJsonText('{\n  "a": 1\n  "b": 2\n}')
 * // { ok: false, problem: { line: 3, column: 3, message: "Expected ',' or '}' after property value" } }
 */
export function parseJsonText (text: string): { ok: true, value: unknown } | { ok: false, problem: JsonSyntaxProblem } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    let found: { line: number, column: number } | null = null
    visit(text, {
      onError (_code, _offset, _length, startLine, startCharacter) {
        found ??= { line: startLine + 1, column: startCharacter + 1 }
      }
    }, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false })
    // Both parsers follow RFC 8259, so this only serves a case they judge differently: point at the end.
    const lines = text.split('\n')
    const where = found ?? { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }
    return { ok: false, problem: { line: where.line, column: where.column, message: v8Words(err as Error) } }
  }
}
