import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** A key pair made by the system's ssh-keygen, with the fingerprint ssh-keygen itself prints. */
export interface GeneratedKey {
  privatePath: string
  privateKey: string
  /** The `.pub` line: `type base64 comment`. */
  publicLine: string
  type: string
  base64: string
  blob: Buffer
  fingerprint: string
}

export function generateKey(
  dir: string,
  name: string,
  args: string[],
  passphrase = ''
): GeneratedKey {
  const privatePath = join(dir, name)
  execFileSync('ssh-keygen', ['-q', ...args, '-N', passphrase, '-C', name, '-f', privatePath])
  const publicLine = readFileSync(`${privatePath}.pub`, 'utf8').trim()
  const [type, base64] = publicLine.split(' ') as [string, string]
  const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${privatePath}.pub`], {
    encoding: 'utf8'
  })
  const fingerprint = listed.split(' ')[1]!
  return {
    privatePath,
    privateKey: readFileSync(privatePath, 'utf8'),
    publicLine,
    type,
    base64,
    blob: Buffer.from(base64, 'base64'),
    fingerprint
  }
}
