import { readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fromNginxHelp, parseFromNginxArgs } from './from-nginx-args.js'
import { NginxSyntaxError } from './nginx-parser.js'
import { renderConfig } from './render-config.js'
import { translateNginx } from './translate-nginx.js'
import { formatNote } from './translation-notes.js'
import { validateTranslation } from './validate-translation.js'

export interface FromNginxIo {
  cwd: string
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const PREFIX = 'ws-cluster from-nginx'

function plural (count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

async function readNginx (path: string, shown: string, io: FromNginxIo): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message
    io.stderr.write(`${PREFIX}: cannot read ${shown}: ${reason} (${code})\n`)
    return null
  }
}

/**
 * `ws-cluster from-nginx FILE [--out FILE]`: translates an nginx config,
 * lists on stderr everything not translated (with line numbers) and the
 * nginx traps it found, validates the result like `ws-cluster check`, and
 * writes it (to `--out` or stdout) only when it is valid. Resolves with the
 * exit code: 0 written, 1 failure (nothing written), 2 usage error.
 *
 * @example
 * const code = await runFromNginx(['nginx.conf', '--out', 'ws-cluster.config.json'], { cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr })
 */
export async function runFromNginx (argv: string[], io: FromNginxIo): Promise<number> {
  const parsed = parseFromNginxArgs(argv)
  if (!parsed.ok) {
    io.stderr.write(`${PREFIX}: ${parsed.message}\n\n${fromNginxHelp()}`)
    return 2
  }
  const { args } = parsed
  if (args.help) {
    io.stdout.write(fromNginxHelp())
    return 0
  }
  const outPath = args.out === undefined ? null : resolve(io.cwd, args.out)
  if (outPath !== null && !args.force && existsSync(outPath)) {
    io.stderr.write(`${PREFIX}: ${args.out as string} exists; pass --force to replace it\n`)
    return 1
  }
  const text = await readNginx(resolve(io.cwd, args.file), args.file, io)
  if (text === null) return 1

  let translation
  try {
    translation = translateNginx(text)
  } catch (err) {
    if (!(err instanceof NginxSyntaxError)) throw err
    const message = err.message.replace(/^line \d+, column \d+: /, '')
    io.stderr.write(`${args.file}:${err.line}:${err.column}: error: ${message}\n${PREFIX}: ${args.file} is not valid nginx syntax; nothing written\n`)
    return 1
  }
  const { config, notes } = translation
  const lines = notes.map(note => formatNote(args.file, note))

  const checkedAs = outPath ?? resolve(io.cwd, args.format === 'mjs' ? 'ws-cluster.config.mjs' : 'ws-cluster.config.json')
  const shownOut = args.out ?? 'translated config'
  const { problems } = validateTranslation(config, checkedAs)
  if (problems.length > 0) {
    for (const problem of problems) lines.push(`${shownOut}: ${problem.path}: ${problem.message}`)
    if (problems.some(p => p.path.startsWith('listen.tls.'))) {
      lines.push(`${PREFIX}: ws-cluster reads the certificate and key itself, so they must be readable where it runs; ` +
        'run from-nginx there (as the user that will run ws-cluster), or copy them and adjust ssl_certificate first')
    }
    lines.push(`${PREFIX}: the translation is not a valid ws-cluster config (${plural(problems.length, 'problem')}); nothing written`)
    io.stderr.write(lines.join('\n') + '\n')
    return 1
  }

  const rendered = renderConfig(config, args.format, args.file)
  if (outPath === null) io.stdout.write(rendered)
  else await writeFile(outPath, rendered, { flag: args.force ? 'w' : 'wx' })
  const skipped = notes.filter(n => n.kind === 'not translated').length
  const warnings = notes.filter(n => n.kind === 'warning').length
  lines.push(`${PREFIX}: ${outPath === null ? 'printed the config' : `wrote ${args.out as string}`}: ` +
    `${plural(Object.keys(config.upstreams).length, 'upstream group')}, ${plural(config.routes.length, 'route')}; ` +
    `${skipped} not translated, ${plural(warnings, 'warning')} (listed above)`)
  io.stderr.write(lines.join('\n') + '\n')
  return 0
}
