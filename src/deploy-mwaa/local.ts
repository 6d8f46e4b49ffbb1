import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { InputError } from '../common/errors.js'
import { escapeText } from '../common/untrusted.js'
import { buildPluginsZip, PluginsFolderError } from './plugins-zip.js'
import type { LocalArtifact } from './plan.js'
import type { LocalSource } from './settings.js'

/** Reads each file, zipping a plugins folder, before anything is asked of AWS. */
export async function readLocalArtifacts(
  sources: readonly LocalSource[],
  log: (line: string) => void
): Promise<LocalArtifact[]> {
  const artifacts: LocalArtifact[] = []
  for (const source of sources) {
    const { role, input, given } = source
    let bytes: Buffer
    let sha256: string
    if (source.form === 'folder') {
      try {
        const zip = await buildPluginsZip(source.path)
        bytes = zip.bytes
        sha256 = zip.sha256
        log(
          `${input}: zipped ${zip.entries.length} file(s) of ${escapeText(given)}, ${bytes.length} bytes, sha256 ${sha256}`
        )
      } catch (error) {
        if (error instanceof PluginsFolderError) throw new InputError(input, error.message)
        throw error
      }
    } else {
      bytes = await readFile(source.path)
      sha256 = createHash('sha256').update(bytes).digest('hex')
      log(`${input}: ${escapeText(given)}, ${bytes.length} bytes, sha256 ${sha256}`)
    }
    artifacts.push({
      role,
      input,
      given,
      bytes,
      sha256,
      ...(source.key !== undefined ? { key: source.key } : {})
    })
  }
  return artifacts
}
