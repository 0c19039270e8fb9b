import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Which tests cite which behaviour line of docs/behaviour.md. Tests name the
 * line they cover (the letter R and its number, as a whole word, in the test
 * name or a comment), so coverage is read off the sources rather than kept by
 * hand. The helper reads the TypeScript sources, not dist/, so it sees exactly
 * what a reviewer sees with grep.
 *
 * No literal line id appears in this file or in the files that use it: they
 * would count as citations themselves.
 */

/** The document the lines live in, relative to the repo root. */
export const BEHAVIOUR_DOC = 'docs/behaviour.md'

/** A line id as a whole word: the letter R and digits. */
const LINE_ID = /\bR\d+\b/g

/**
 * Two ids joined by a dash or "..": a range. File headers use ranges to say
 * which lines a file is about, or which lines another file covers, so a range
 * is a pointer, not a citation of either end; a file that tests a line names it.
 */
const RANGE = /\bR\d+\s*(?:-|–|—|\.\.)\s*R\d+\b/g

/** Where an id occurs: the file relative to the root, and the 1-based line. */
export interface Citation {
  id: string
  file: string
  line: number
}

/** Orders ids by number, so lists read R2 before R10. */
export function compareIds (a: string, b: string): number {
  return Number(a.slice(1)) - Number(b.slice(1))
}

/** Files under `dir` (relative to `root`), recursively, as sorted forward-slash paths. */
function filesUnder (root: string, dir: string, keep: (file: string) => boolean): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) out.push(...filesUnder(root, path, keep))
    else if (entry.isFile() && keep(path)) out.push(path)
  }
  return out.sort()
}

/** The ids `text` cites: whole-word ids outside ranges, unique, in number order. */
export function citedIds (text: string): string[] {
  const ids = new Set(text.replace(RANGE, ' ').match(LINE_ID) ?? [])
  return [...ids].sort(compareIds)
}

/**
 * For each cited id, the sorted test files (`test/….test.ts`) that cite it.
 * Helpers are left out: they are not tests, even when a comment says which line
 * they serve. Ids no test cites are absent from the map.
 */
export function behaviourCoverage (root: string): Map<string, string[]> {
  const coverage = new Map<string, string[]>()
  for (const file of filesUnder(root, 'test', (path) => path.endsWith('.test.ts'))) {
    for (const id of citedIds(readFileSync(join(root, file), 'utf8'))) {
      const files = coverage.get(id) ?? []
      files.push(file)
      coverage.set(id, files)
    }
  }
  return new Map([...coverage].sort(([a], [b]) => compareIds(a, b)))
}

/** Source and fixture files whose ids must name a line of the document. */
function citingSources (root: string): string[] {
  const text = /\.(?:ts|mts|js|mjs|json)$/
  return [
    ...filesUnder(root, 'test', (path) => text.test(path)),
    ...filesUnder(root, 'plugin', (path) => path.endsWith('.ts')),
    ...filesUnder(root, 'cluster', (path) => path.endsWith('.ts'))
  ]
}

/**
 * Every occurrence of an id in test/ (tests, helpers, fixtures) and in plugin/
 * and cluster/, range ends included: whatever a reader may look up must exist.
 * The whole source is read, not only comments, since an id in a string is a
 * reference too, and telling comments from strings is not worth a parser here.
 */
export function allCitations (root: string): Citation[] {
  const out: Citation[] = []
  for (const file of citingSources(root)) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n')
    lines.forEach((text, index) => {
      for (const id of text.match(LINE_ID) ?? []) out.push({ id, file, line: index + 1 })
    })
  }
  return out
}
