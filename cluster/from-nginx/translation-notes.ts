import { directiveText, type NginxDirective } from './nginx-parser.js'

/**
 * What the translation tells the user, each tied to a line of the nginx
 * file:
 * - `not translated`: a directive with no ws-cluster equivalent, and why;
 * - `warning`: an nginx default or setting that is a trap for WebSockets, or
 *   a behaviour that changes with the move;
 * - `note`: how something was translated, or that ws-cluster does it built in.
 */
export type NoteKind = 'not translated' | 'warning' | 'note'

export interface TranslationNote {
  /** 1-based line in the nginx file; null for notes about the file as a whole. */
  line: number | null
  kind: NoteKind
  message: string
}

/** How each directive of the file was dealt with; every directive gets exactly one. */
export type Outcome = 'translated' | 'built in' | 'not translated'

/**
 * Collects notes and the outcome of every directive, so that nothing in the
 * nginx file can be dropped silently: tests walk the parsed tree and check
 * each directive has an outcome.
 */
export class TranslationNotes {
  readonly notes: TranslationNote[] = []
  readonly outcomes = new Map<NginxDirective, Outcome>()

  add (kind: NoteKind, line: number | null, message: string): void {
    this.notes.push({ kind, line, message })
  }

  note (line: number | null, message: string): void { this.add('note', line, message) }
  warn (line: number | null, message: string): void { this.add('warning', line, message) }

  /** Records a directive as translated (or built in) without a note. */
  mark (directive: NginxDirective, outcome: Outcome): void {
    this.outcomes.set(directive, outcome)
  }

  /**
   * Reports a directive that has no ws-cluster equivalent. Its block's
   * contents, if any, go with it: one note for `stream { ... }`, not one per
   * line inside.
   */
  notTranslated (directive: NginxDirective, why: string): void {
    this.add('not translated', directive.line, `${directiveText(directive)}${directive.block === null ? '' : ' { ... }'} — ${why}`)
    this.markTree(directive, 'not translated')
  }

  /** Gives a directive and everything inside it one outcome. */
  markTree (directive: NginxDirective, outcome: Outcome): void {
    this.outcomes.set(directive, outcome)
    for (const child of directive.block ?? []) this.markTree(child, outcome)
  }

  /** Notes in file order (notes about the whole file first), stable within a line. */
  sorted (): TranslationNote[] {
    return this.notes
      .map((note, i) => ({ note, i }))
      .sort((a, b) => ((a.note.line ?? 0) - (b.note.line ?? 0)) || a.i - b.i)
      .map(({ note }) => note)
  }
}

/** `nginx.conf:12: not translated: root html — ...`, the shape compilers and `ws-cluster check` use. */
export function formatNote (file: string, note: TranslationNote): string {
  return `${file}${note.line === null ? '' : `:${note.line}`}: ${note.kind}: ${note.message}`
}
