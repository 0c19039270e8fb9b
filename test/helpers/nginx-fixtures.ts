import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NginxDirective } from '../../cluster/from-nginx/nginx-parser.js'
import { translateNginx, type Translation } from '../../cluster/from-nginx/translate-nginx.js'
import type { NoteKind } from '../../cluster/from-nginx/translation-notes.js'

/** The nginx fixtures are not compiled, so tests read them from the source tree next to dist/. */
export const NGINX_FIXTURES = resolve(fileURLToPath(import.meta.url), '../../../../test/fixtures/nginx')

export function nginxFixture (name: string): string {
  return readFileSync(resolve(NGINX_FIXTURES, name), 'utf8')
}

/** Translates a string of nginx config wrapped in `http { server { ... } }`. */
export function translateInServer (body: string, httpLevel = ''): Translation {
  return translateNginx(`http {\n${httpLevel}\nserver {\n${body}\n}\n}\n`)
}

/** The notes of one kind, as `line: message` strings, for readable assertion failures. */
export function notesOf (translation: Translation, kind: NoteKind): string[] {
  return translation.notes.filter(n => n.kind === kind).map(n => `${n.line ?? '-'}: ${n.message}`)
}

/** Asserts a note of `kind` on `line` whose message matches `pattern`. */
export function assertNote (translation: Translation, kind: NoteKind, line: number | null, pattern: RegExp): void {
  const found = translation.notes.some(n => n.kind === kind && n.line === line && pattern.test(n.message))
  assert.ok(found, `no ${kind} on line ${line ?? '-'} matching ${String(pattern)}; ${kind} notes:\n${notesOf(translation, kind).join('\n')}`)
}

/**
 * Asserts that nothing was dropped silently: every directive of the file
 * has an outcome, and each one that was not translated is named by a
 * "not translated" note on its line or on the line of the block it is in.
 */
export function assertEverythingAccountedFor (translation: Translation): void {
  const noted = new Set(translation.notes.filter(n => n.kind === 'not translated').map(n => n.line))
  const visit = (directives: readonly NginxDirective[], ancestors: number[]): void => {
    for (const directive of directives) {
      const outcome = translation.outcomes.get(directive)
      assert.ok(outcome !== undefined, `${directive.name} on line ${directive.line} has no outcome`)
      if (outcome === 'not translated') {
        assert.ok([directive.line, ...ancestors].some(line => noted.has(line)), `${directive.name} on line ${directive.line} is not translated but no note says so`)
      }
      if (directive.block !== null) visit(directive.block, [...ancestors, directive.line])
    }
  }
  visit(translation.tree, [])
  assert.ok(!translation.notes.some(n => /nothing in from-nginx handled/.test(n.message)), 'a directive fell through every translator')
}
