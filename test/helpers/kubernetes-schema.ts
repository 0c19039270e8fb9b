import { join } from 'node:path'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Service } from 'kubernetes-models/v1/Service'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import ts from 'typescript'
import { REPO } from './deploy-files.js'

/**
 * Checks Kubernetes manifests offline with kubernetes-models, whose models
 * carry validators generated from the Kubernetes OpenAPI schema (types,
 * enums, required fields, formats), and whose TypeScript declarations come
 * from the same schema.
 */

interface Kind {
  /** Runs the package's generated JSON-schema validator; throws on the first violations. */
  validate: (manifest: object) => void
  /** The module and interface that declare the object's fields. */
  module: string
  type: string
}

const KINDS: Record<string, Kind> = {
  'v1/ConfigMap': { validate: (m) => new ConfigMap(m as ConfigMap).validate(), module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { validate: (m) => new Service(m as Service).validate(), module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/Deployment': { validate: (m) => new Deployment(m as Deployment).validate(), module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { validate: (m) => new PodDisruptionBudget(m as PodDisruptionBudget).validate(), module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' }
}

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

function kindOf (manifest: Manifest): Kind {
  const kind = KINDS[`${manifest.apiVersion}/${manifest.kind}`]
  if (kind === undefined) throw new Error(`no schema wired up for ${manifest.apiVersion} ${manifest.kind}; known: ${Object.keys(KINDS).join(', ')}`)
  return kind
}

/** Throws with the schema violations of one manifest (an unknown apiVersion/kind is one too). */
export function validateManifest (manifest: Manifest): void {
  kindOf(manifest).validate(manifest)
}

/**
 * The fields the schema does not know, at any depth. The generated
 * validators allow extra properties (the OpenAPI schema does not forbid
 * them), but the API server's strict field validation rejects them and a
 * misspelt optional field is otherwise silently ignored. TypeScript's excess
 * property check on an object literal typed with the package's interface
 * finds them: each manifest becomes `const m: IKind = <its JSON>` in a
 * source file that only exists in memory. Returns one message per problem.
 */
export function unknownFieldProblems (manifests: Array<{ file: string, manifest: Manifest }>): string[] {
  // Inside the repository so that module resolution finds node_modules/kubernetes-models.
  const fileName = join(REPO, 'dist', 'test', 'kubernetes-manifests.virtual.ts')
  const imports = new Set<string>()
  const lines: string[] = []
  manifests.forEach(({ file, manifest }, i) => {
    const kind = kindOf(manifest)
    imports.add(`import type { ${kind.type} } from '${kind.module}'`)
    lines.push(`// ${file}\nexport const m${i}: ${kind.type} = ${JSON.stringify(manifest, null, 2)}`)
  })
  const text = `${[...imports].join('\n')}\n${lines.join('\n')}\n`
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext
  }
  const host = ts.createCompilerHost(options)
  const readSource = host.getSourceFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.getSourceFile = (name, language, ...rest) => name === fileName ? ts.createSourceFile(name, text, language) : readSource(name, language, ...rest)
  host.fileExists = (name) => name === fileName || fileExists(name)
  const program = ts.createProgram([fileName], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file === undefined || d.start === undefined) return message
    // Name the manifest: the nearest "// file" comment above the error.
    const before = text.slice(0, d.start)
    const file = before.slice(before.lastIndexOf('\n// ') + 4).split('\n')[0]
    const { line } = d.file.getLineAndCharacterOfPosition(d.start)
    return `${file} (generated line ${line + 1}): ${message}`
  })
}
