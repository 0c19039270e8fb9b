import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { allCitations, BEHAVIOUR_DOC, behaviourCoverage } from './behaviour-coverage.js'
import { parseBehaviourDoc, withTestsLists } from './behaviour-doc.js'

/**
 * `npm run behaviour-doc` (after `npm run build`): rewrites the "Tests:" lists
 * of docs/behaviour.md from the test sources, so whoever adds or renames a test
 * regenerates them instead of editing by hand; test/behaviour-doc.test.ts then
 * passes. The wording is never touched: an id cited in the sources that has no
 * line in the document, or an entry without a "Tests:" line, is reported for a
 * person to write, and the exit code is 1.
 */

// Compiled to dist/test/helpers/, three levels below the repo root.
const root = fileURLToPath(new URL('../../../', import.meta.url))
const docPath = join(root, BEHAVIOUR_DOC)

const before = readFileSync(docPath, 'utf8')
const after = withTestsLists(before, behaviourCoverage(root))
const entries = parseBehaviourDoc(after)

const oldLines = before.split('\n')
const newLines = after.split('\n')
const changed = entries.filter((entry) => entry.testsLine !== 0 && oldLines[entry.testsLine - 1] !== newLines[entry.testsLine - 1])
if (changed.length > 0) {
  writeFileSync(docPath, after)
  console.log(`${BEHAVIOUR_DOC}: Tests lists updated for ${changed.map((entry) => entry.id).join(', ')}`)
} else {
  console.log(`${BEHAVIOUR_DOC}: Tests lists already up to date`)
}

const problems: string[] = []
for (const entry of entries) {
  if (entry.testsLine === 0) problems.push(`${BEHAVIOUR_DOC}:${entry.line}: ${entry.id} has no "  Tests:" line; add one under its wording and run again`)
}
const known = new Set(entries.map((entry) => entry.id))
for (const citation of allCitations(root)) {
  if (!known.has(citation.id)) {
    problems.push(`${citation.file}:${citation.line}: cites ${citation.id}, which ${BEHAVIOUR_DOC} does not define; write its line there or fix the citation`)
  }
}
for (const problem of problems) console.error(problem)
if (problems.length > 0) process.exitCode = 1
