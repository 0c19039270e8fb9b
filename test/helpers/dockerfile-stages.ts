import { posix } from 'node:path'
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast'

/**
 * The Dockerfile as build stages, from dockerfile-ast's parse: what each
 * stage runs and copies, with COPY destinations made absolute against the
 * stage's WORKDIR, so tests can follow a file from the build context into
 * the final image.
 */
export interface Copy {
  /** `--from=` stage, or null for the build context. */
  from: string | null
  sources: string[]
  /** Absolute destination in the image. */
  destination: string
}

export interface Stage {
  name: string | null
  /** The earlier stage this one is built FROM, or null for an image. Its instructions, copies and runs are included below, as the image includes them. */
  base: string | null
  instructions: Instruction[]
  copies: Copy[]
  /** The argument text of every RUN. */
  runs: string[]
}

function flagsOf (instruction: Instruction): ReturnType<ModifiableInstruction['getFlags']> {
  return instruction instanceof ModifiableInstruction ? instruction.getFlags() : []
}

/** The JSON array of an exec-form instruction (ENTRYPOINT, CMD), or null for the shell form. */
export function execForm (instruction: Instruction | undefined): string[] | null {
  const content = instruction?.getArgumentsContent()?.trim() ?? ''
  if (!content.startsWith('[')) return null
  return JSON.parse(content) as string[]
}

/** The command of a `HEALTHCHECK [flags] CMD [...]` in exec form, and its flags. */
export function healthcheck (instruction: Instruction | undefined): { argv: string[] | null, flags: Record<string, string> } {
  if (instruction === undefined) return { argv: null, flags: {} }
  const flags: Record<string, string> = {}
  for (const flag of flagsOf(instruction)) flags[flag.getName()] = flag.getValue() ?? ''
  const content = instruction.getArgumentsContent() ?? ''
  const cmd = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(content)
  return { argv: cmd === null ? null : JSON.parse(cmd[1]) as string[], flags }
}

export function parseStages (text: string): Stage[] {
  const stages: Stage[] = []
  const workdirs = new Map<Stage, string>()
  let workdir = '/'
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword()
    if (keyword === 'FROM') {
      const stage = stages.at(-1)
      if (stage !== undefined) workdirs.set(stage, workdir)
      const args = instruction.getArguments().map((a) => a.getValue())
      const as = args.findIndex((a) => a.toUpperCase() === 'AS')
      const base = stages.find((s) => s.name !== null && s.name === args[0]) ?? null
      stages.push({
        name: as >= 0 ? args[as + 1] : null,
        base: base?.name ?? null,
        instructions: [...(base?.instructions ?? []), instruction],
        copies: [...(base?.copies ?? [])],
        runs: [...(base?.runs ?? [])]
      })
      workdir = base === null ? '/' : workdirs.get(base) ?? '/'
      continue
    }
    const stage = stages.at(-1)
    // Instructions before the first FROM (ARG) belong to no stage.
    if (stage === undefined) continue
    stage.instructions.push(instruction)
    if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, instruction.getArgumentsContent() ?? '')
    if (keyword === 'RUN') stage.runs.push(instruction.getArgumentsContent() ?? '')
    if (keyword === 'COPY') {
      const from = flagsOf(instruction).find((f) => f.getName() === 'from')?.getValue() ?? null
      const paths = execForm(instruction) ?? instruction.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'))
      const destination = paths.at(-1) ?? ''
      stage.copies.push({ from, sources: paths.slice(0, -1), destination: posix.resolve(workdir, destination) + (destination.endsWith('/') ? '/' : '') })
    }
  }
  return stages
}

/** The last instruction with `keyword` in a stage. */
export function last (stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.getKeyword() === keyword).at(-1)
}

/**
 * Where `source` (a context path) lands in the image: the COPY destination,
 * plus the file name when the destination is a folder (ends in `/`) or the
 * source is copied into one of several.
 */
export function imagePathOf (copy: Copy, source: string): string {
  return copy.destination.endsWith('/') || copy.sources.length > 1
    ? posix.join(copy.destination, posix.basename(source))
    : copy.destination
}
