import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository's README.md. */
export const README = fileURLToPath(new URL('../../../README.md', import.meta.url))

/**
 * One fenced code block of the README. The fence's info string is
 * `LANG ROLE`: the language for the renderer, and for the tests what the
 * block is (`js plugin`, `json config`, `json output` for output shown as an
 * example, ...). Renderers read only the first word.
 */
export interface ReadmeBlock {
  lang: string
  role: string | null
  text: string
  /** 1-based line of the opening fence, for messages. */
  line: number
  /** The `## ` heading the block is under. */
  section: string
}

/**
 * The fenced code blocks of a Markdown text, in order. Only what the README
 * uses is read: fences of three or more backticks, at most three spaces in
 * (blocks inside list items included), closed by a fence at least as long.
 *
 * @example
 * readmeBlocks('## A\n\n```sh\nnpm test\n```\n')
 * // [{ lang: 'sh', role: null, text: 'npm test\n', line: 3, section: 'A' }]
 */
export function readmeBlocks (markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = []
  const lines = markdown.split('\n')
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i])
    if (heading !== null) section = heading[1].trim()
    const open = /^( {0,3})(`{3,})\s*([^`]*)$/.exec(lines[i])
    if (open === null) continue
    const [, indent, fence, info] = open
    const [lang = '', role = null] = info.trim().split(/\s+/).filter(Boolean)
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !new RegExp(`^ {0,3}${fence}\`*\\s*$`).test(lines[j])) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j])
      j++
    }
    blocks.push({ lang, role, text: body.join('\n') + '\n', line: i + 1, section })
    i = j
  }
  return blocks
}

/** The README's blocks. */
export function readReadmeBlocks (): ReadmeBlock[] {
  return readmeBlocks(readFileSync(README, 'utf8'))
}
