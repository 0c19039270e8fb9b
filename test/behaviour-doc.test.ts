import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { allCitations, BEHAVIOUR_DOC, behaviourCoverage, citedIds } from './helpers/behaviour-coverage.js'
import { parseBehaviourDoc, testsLine, withTestsLists } from './helpers/behaviour-doc.js'

// docs/behaviour.md is the project's list of behaviour lines; its "Tests:"
// lists are generated from the test sources. These tests keep both honest: a
// new test that cites a line, or a citation of a line that does not exist,
// fails here with the exact fix. No literal line id appears in this file, or
// it would be listed as covering that line.

const root = fileURLToPath(new URL('../../', import.meta.url))
const docText = readFileSync(join(root, BEHAVIOUR_DOC), 'utf8')
const entries = parseBehaviourDoc(docText)
const REGENERATE = 'npm run build && npm run behaviour-doc'

/** A line id built at run time, so the sources of this file cite none. */
function id (n: number): string {
  return `R${n}`
}

test('behaviour doc: every line is defined once, in number order, and has a "Tests:" line', () => {
  assert.ok(entries.length > 0, `${BEHAVIOUR_DOC} has no entries of the form "- **${id(1)}** …"`)
  const problems: string[] = []
  const defined = new Map<string, number>()
  let highest = 0
  for (const entry of entries) {
    const n = Number(entry.id.slice(1))
    const first = defined.get(entry.id)
    if (first !== undefined) {
      problems.push(`${BEHAVIOUR_DOC}:${entry.line}: ${entry.id} is already defined at line ${first}; keep one`)
    } else if (n < highest) {
      problems.push(`${BEHAVIOUR_DOC}:${entry.line}: ${entry.id} comes after ${id(highest)}; keep the lines in number order`)
    }
    if (first === undefined) defined.set(entry.id, entry.line)
    highest = Math.max(highest, n)
    if (entry.testsLine === 0) problems.push(`${BEHAVIOUR_DOC}:${entry.line}: ${entry.id} needs a line "${testsLine([])}" under its wording, then: ${REGENERATE}`)
  }
  // Numbers are never reused: a line that goes away leaves its number unused, so old references cannot point at new meanings.
  if (!defined.has(id(1))) problems.push(`${BEHAVIOUR_DOC}: the lines start at ${id(1)}`)
  assert.deepEqual(problems, [], problems.join('\n'))
})

test('behaviour doc: each "Tests:" list names exactly the test files that cite its line', () => {
  const coverage = behaviourCoverage(root)
  const problems: string[] = []
  for (const entry of entries) {
    const expected = coverage.get(entry.id) ?? []
    if (entry.testsLine !== 0 && JSON.stringify(entry.tests) !== JSON.stringify(expected)) {
      problems.push(`${BEHAVIOUR_DOC}:${entry.testsLine} (${entry.id}) should read:\n${testsLine(expected)}`)
    }
  }
  assert.deepEqual(problems, [], `${problems.join('\n')}\n(or run: ${REGENERATE})`)
})

test('behaviour doc: every line id cited in test/, plugin/ and cluster/ is defined in the doc', () => {
  const defined = new Set(entries.map((entry) => entry.id))
  const dangling = allCitations(root)
    .filter((citation) => !defined.has(citation.id))
    .map((citation) => `${citation.file}:${citation.line} cites ${citation.id}, which ${BEHAVIOUR_DOC} does not define`)
  assert.deepEqual(dangling, [], dangling.join('\n'))
})

test('behaviour coverage: ids count as whole words; ranges are pointers and cite neither end', () => {
  const text = `// lines ${id(1)}, ${id(4)}-${id(6)}; ${id(9)}–${id(11)} elsewhere\n` +
    `test('${id(26)}'s hash and ${id(4)} again', ...) // not ${id(2)}x, X${id(3)}, ${id(12)}_v2`
  assert.deepEqual(citedIds(text), [id(1), id(4), id(26)])
  assert.deepEqual(citedIds('nothing cited here'), [])
})

test('behaviour doc: the update rewrites only entries\' "Tests:" lines and reads back what it wrote', () => {
  const doc = [
    '# Title',
    '',
    `- **${id(1)}** First line, with wording that`,
    '  spans two lines.',
    '  Tests: `test/old.test.ts`',
    `- **${id(2)}** Second line.`,
    '  Tests: none yet',
    '',
    `- **${id(3)}** Third line, whose list a person has yet to add.`,
    '',
    '## Last group',
    '  Tests: `test/stray.test.ts` after a heading belongs to no entry'
  ].join('\n')
  const coverage = new Map([[id(2), ['test/a.test.ts', 'test/b.test.ts']], [id(3), ['test/c.test.ts']]])
  const updated = withTestsLists(doc, coverage)
  const lines = updated.split('\n')
  assert.equal(lines[3], '  spans two lines.')
  assert.equal(lines[4], '  Tests: none yet')
  assert.equal(lines[6], '  Tests: `test/a.test.ts`, `test/b.test.ts`')
  assert.equal(lines[11], doc.split('\n')[11])
  assert.deepEqual(parseBehaviourDoc(updated).map((entry) => [entry.id, entry.testsLine, entry.tests]), [
    [id(1), 5, []],
    [id(2), 7, ['test/a.test.ts', 'test/b.test.ts']],
    [id(3), 0, []]
  ])
  assert.equal(withTestsLists(updated, coverage), updated)
})
