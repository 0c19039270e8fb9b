import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A private CA made with openssl for one test file, and a server certificate it signed. */
export interface TestCa {
  /** Folder holding `ca.pem` (kept until `remove`), for options that take a file path. */
  dir: string
  caFile: string
  caPem: string
  /** Certificate for the names in `names` (DNS and IP SANs), signed by the CA. */
  cert: string
  key: string
  /** A self-signed certificate with the same names that no CA vouches for. */
  selfSignedCert: string
  selfSignedKey: string
  remove: () => void
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' })
}

/**
 * Generates a CA and a leaf certificate for `names` (e.g. `['localhost',
 * 'backend.test', '127.0.0.1']`) with the openssl CLI, the way an operator
 * sets up a private CA for internal services. EC keys keep it fast.
 */
export function createTestCa (names: string[]): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'ws-cluster-ca-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  const san = names.map(name => (/^[\d.]+$/.test(name) || name.includes(':') ? `IP:${name}` : `DNS:${name}`)).join(',')
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ws-cluster test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]}`], dir)
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`)
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem',
    '-days', '2', '-extfile', 'ext.cnf'], dir)
  openssl(['req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', `/CN=${names[0]}`,
    '-addext', `subjectAltName=${san}`], dir)
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8')
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caPem: read('ca.pem'),
    cert: read('server.pem'),
    key: read('server.key'),
    selfSignedCert: read('self.pem'),
    selfSignedKey: read('self.key'),
    remove: () => { rmSync(dir, { recursive: true, force: true }) }
  }
}
