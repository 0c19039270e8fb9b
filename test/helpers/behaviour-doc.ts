/**
 * Reads and rewrites docs/behaviour.md. Each behaviour line is a list item
 * that starts with its id in bold and ends with one line of its own,
 * indented under the item, listing the test files that cite it:
 *
 *   - **R<n>** What the proxy does, over as many lines as it takes.
 *     Tests: `test/a.test.ts`, `test/b.test.ts`
 *
 * or `Tests: none yet`. Keeping the list on its own line lets a script
 * rewrite it without touching the wording above it.
 */

/** One behaviour line as found in the document. */
export interface BehaviourEntry {
  id: string
  /** 1-based line of the item's first line. */
  line: number
  /** 1-based line of its "Tests:" line, or 0 when it has none. */
  testsLine: number
  /** The files its "Tests:" line lists. */
  tests: string[]
}

const ENTRY = /^- \*\*(R\d+)\*\*\s/
const TESTS = /^ {2}Tests: (.*)$/
const NONE = 'none yet'

/** The "Tests:" line for `files` (sorted by the caller), exactly as the document writes it. */
export function testsLine (files: readonly string[]): string {
  return `  Tests: ${files.length === 0 ? NONE : files.map((file) => `\`${file}\``).join(', ')}`
}

function parseTests (list: string): string[] {
  if (list.trim() === NONE) return []
  return list.split(',').map((item) => item.trim().replace(/^`|`$/g, ''))
}

/**
 * The entries of the document, in order. An entry's "Tests:" line is the
 * first one found before the next entry or heading; text between is wording.
 */
export function parseBehaviourDoc (text: string): BehaviourEntry[] {
  const entries: BehaviourEntry[] = []
  let current: BehaviourEntry | undefined
  text.split('\n').forEach((line, index) => {
    const entry = ENTRY.exec(line)
    if (entry !== null) {
      current = { id: entry[1], line: index + 1, testsLine: 0, tests: [] }
      entries.push(current)
      return
    }
    if (line.startsWith('#')) {
      current = undefined
      return
    }
    const tests = TESTS.exec(line)
    if (tests !== null && current !== undefined && current.testsLine === 0) {
      current.testsLine = index + 1
      current.tests = parseTests(tests[1])
    }
  })
  return entries
}

/**
 * `text` with every entry's "Tests:" line set from `coverage` (an id missing
 * there gets "none yet"). Entries without a "Tests:" line are left for a
 * person to fix: where the wording ends is theirs to say.
 */
export function withTestsLists (text: string, coverage: ReadonlyMap<string, readonly string[]>): string {
  const lines = text.split('\n')
  for (const entry of parseBehaviourDoc(text)) {
    if (entry.testsLine === 0) continue
    lines[entry.testsLine - 1] = testsLine(coverage.get(entry.id) ?? [])
  }
  return lines.join('\n')
}
