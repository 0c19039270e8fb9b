import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NginxSyntaxError, parseNginx, type NginxDirective } from '../cluster/from-nginx/nginx-parser.js'
import { tokenize } from '../cluster/from-nginx/nginx-tokenizer.js'
import { formatDuration, parseNginxTime, variablesIn } from '../cluster/from-nginx/nginx-values.js'
import { translateNginx } from '../cluster/from-nginx/translate-nginx.js'
import { nginxFixture } from './helpers/nginx-fixtures.js'

// Pure parsing: no sockets, so no file-descriptor check here.
/* eslint-disable no-template-curly-in-string -- nginx's own ${name} variable syntax is what these strings test */

function syntaxError (text: string, line: number, column: number, pattern: RegExp): void {
  assert.throws(() => parseNginx(text, { isDirectiveName: name => ['proxy_pass', 'proxy_http_version', 'location', 'server'].includes(name) }), (err: unknown) => {
    assert.ok(err instanceof NginxSyntaxError, String(err))
    assert.equal(err.line, line, err.message)
    assert.equal(err.column, column, err.message)
    assert.match(err.message, pattern)
    assert.match(err.message, new RegExp(`^line ${line}, column ${column}: `))
    return true
  })
}

function shape (directives: NginxDirective[]): unknown[] {
  return directives.map(d => [d.name, d.args.map(a => a.value), d.line, d.column, d.block === null ? null : shape(d.block)])
}

test('parser: blocks, arguments, lines and columns of every directive', () => {
  const tree = parseNginx('http {\n  server { listen 80;\n    location /{ proxy_pass http://b; }\n  }\n}\n')
  assert.deepEqual(shape(tree), [
    ['http', [], 1, 1, [
      ['server', [], 2, 3, [
        ['listen', ['80'], 2, 12, null],
        ['location', ['/'], 3, 5, [['proxy_pass', ['http://b'], 3, 17, null]]]
      ]]
    ]]
  ])
})

test('tokenizer: quotes with escapes, ${var} braces, comments only where a word starts', () => {
  // As in nginx, a backslash makes ";" part of the word and stays in it (nginx drops it only before a quote, a backslash, t, r or n).
  const words = tokenize('set $a "x\\"y" \'it\\\'s\' "t\\tn" \\; ${host}ab foo#bar; # comment { ;\nnext;')
    .map(t => [t.kind, t.text, t.quoted])
  assert.deepEqual(words, [
    ['word', 'set', false], ['word', '$a', false], ['word', 'x"y', true], ['word', "it's", true], ['word', 't\tn', true],
    ['word', '\\;', false], ['word', '${host}ab', false], ['word', 'foo#bar', false], ['semicolon', ';', false],
    ['word', 'next', false], ['semicolon', ';', false]
  ])
  // An escape nginx does not know keeps its backslash, so regexes survive.
  assert.equal(tokenize('"\\d+"')[0].text, '\\d+')
  assert.deepEqual(tokenize('"" \'\'').map(t => [t.text, t.quoted]), [['', true], ['', true]])
})

test('parser: a byte order mark at the start is not part of the first directive', () => {
  assert.equal(parseNginx('\uFEFFworker_processes auto;')[0].name, 'worker_processes')
})

test('parser: arguments over several lines (log_format) are one directive', () => {
  const [logFormat] = parseNginx("log_format main '$remote_addr'\n    '\"$request\"'\n    $status;", { isDirectiveName: name => name === 'log_format' })
  assert.deepEqual(logFormat.args.map(a => a.value), ['main', '$remote_addr', '"$request"', '$status'])
})

test('parse errors: unbalanced braces name the line of the block left open, or of the extra "}"', () => {
  syntaxError('http {\n  server {\n    listen 80;\n  }\n', 1, 1, /unexpected end of file: the block "http {" opened here is never closed with "}"/)
  syntaxError('http {\n  server {\n    location / {\n', 3, 5, /block "location \/ {" opened here is never closed.*\(3 blocks are open\)/)
  syntaxError('server {\n}\n}\n', 3, 1, /unexpected "}": no block is open here/)
  syntaxError('{ listen 80; }', 1, 1, /unexpected "{": a block needs a directive name/)
  syntaxError('listen 80;;', 1, 11, /unexpected ";": there is no directive before it/)
})

test('parse errors: an unterminated string names where the quote opened', () => {
  syntaxError('location / {\n  proxy_set_header Connection "upgrade;\n}\n', 2, 31, /unterminated string: the double quote opened here is never closed/)
  syntaxError("map $a $b { '' close; 'x close; }", 1, 23, /unterminated string: the single quote/)
  syntaxError('return 200 "a"b;', 1, 15, /unexpected "b" right after a quoted string/)
})

test('parse errors: a missing ";" names the line it belongs to', () => {
  syntaxError('location / {\n  proxy_pass http://b }', 2, 22, /missing ";" after "proxy_pass http:\/\/b" \(line 2\) before the "}" on line 2/)
  syntaxError('location / {\n  proxy_pass http://b\n  proxy_http_version 1.1;\n}', 2, 22, /missing ";" at the end of line 2: "proxy_pass http:\/\/b" runs into "proxy_http_version" on line 3/)
  syntaxError('server {\n  listen 80\n  location / { }\n}', 2, 12, /missing ";" at the end of line 2: "listen 80" runs into "location"/)
  syntaxError('worker_processes auto', 1, 22, /unexpected end of file: "worker_processes auto" \(line 1\) has no ";"$/)
  // The column is right after the closing quote, not after the unquoted text.
  syntaxError('location / {\n  proxy_set_header Connection "upgrade"\n  proxy_pass http://b;\n}', 2, 40, /missing ";" at the end of line 2/)
})

test('parse errors: seed 003 printed on one line leaves its server block open (the "#" comment swallows the rest)', () => {
  assert.throws(() => translateNginx(nginxFixture('seed-003a-one-line-verbatim.conf')), (err: unknown) => {
    assert.ok(err instanceof NginxSyntaxError)
    assert.equal(err.line, 5)
    assert.match(err.message, /unexpected end of file: "……" \(line 5\) has no ";" and the block "server \{" opened on line 5 is not closed/)
    return true
  })
})

test('values: nginx time intervals and their ws-cluster durations', () => {
  const cases: Array<[string, number | null, string | null]> = [
    ['60', 60_000, '1m'], ['420s', 420_000, '7m'], ['3600s', 3_600_000, '1h'], ['7d', 604_800_000, '7d'], ['1h 30m', 5_400_000, '90m'],
    ['500ms', 500, '500ms'], ['1w', 604_800_000, '7d'], ['90s', 90_000, '90s'], ['1h1h', null, null], ['5x', null, null], ['', null, null]
  ]
  for (const [text, ms, duration] of cases) {
    assert.equal(parseNginxTime(text), ms, text)
    if (ms !== null) assert.equal(formatDuration(ms), duration, text)
  }
  assert.deepEqual(variablesIn('$host:${server_port}/$http_x_id'), ['host', 'server_port', 'http_x_id'])
})
