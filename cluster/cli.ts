#!/usr/bin/env node
import { runCli } from './cli/run-cli.js'

// The `ws-cluster` executable (package.json `bin`); the commands live in cli/.
runCli(process.argv.slice(2), { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr }).then((code) => {
  if (code !== null) process.exitCode = code
}, (err: Error) => {
  process.stderr.write(`ws-cluster: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
