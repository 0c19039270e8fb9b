import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateConfig } from '../../cluster/config/config-validate.js'
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

/**
 * Whether this ws-cluster's validator already knows the `headers` route
 * option (the translator emits it ahead of ws-cluster; until then it is left
 * out of validation with a note).
 */
export function validatorKnowsHeaders (): boolean {
  const probe = { upstreams: { a: { servers: ['http://127.0.0.1:9001'] } }, routes: [{ path: '/ws', upstream: 'a', headers: { set: { 'X-A': 'b' } } }] }
  return validateConfig(probe, join(NGINX_FIXTURES, 'probe.json')).problems.length === 0
}
