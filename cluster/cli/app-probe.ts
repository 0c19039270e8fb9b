import { loadUserApp } from '../worker/user-app.js'

/*
 * Child process of `ws-cluster check`: imports the config's `app` module the
 * way a worker does and reports on stdout, then exits whatever the module
 * left running (timers, sockets opened at import time). The parent bounds how
 * long it may take.
 */
const file = process.argv[2] ?? ''
loadUserApp(file).then(() => {
  process.stdout.write('ok\n', () => process.exit(0))
}, (err: unknown) => {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  process.stdout.write(`${JSON.stringify(text)}\n`, () => process.exit(1))
})
