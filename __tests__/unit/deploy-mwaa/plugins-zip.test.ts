import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { buildPluginsZip, pluginFiles } from '../../../src/deploy-mwaa/plugins-zip.js'

const folders: string[] = []
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})
const zoneAtStart = process.env.TZ
afterEach(() => {
  if (zoneAtStart === undefined) delete process.env.TZ
  else process.env.TZ = zoneAtStart
})

const plugins: Record<string, string> = {
  'lineage/__init__.py': 'from .listener import LineageListener\n',
  'lineage/listener.py': 'class LineageListener:\n    pass\n',
  'operators/s3_sensor.py': 'SENSOR = 1\n',
  'README.md': '# plugins\n',
  'lineage.py': 'import lineage\n'
}

/** A checkout of the plugins folder, written in the given order, with the given times and modes. */
function checkout(order: string[], mtime: Date, mode: number): string {
  const root = mkdtempSync(join(tmpdir(), 'plugins-'))
  folders.push(root)
  for (const path of order) {
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, plugins[path] as string)
    chmodSync(file, mode)
    utimesSync(file, mtime, mtime)
  }
  return root
}

/** What Python's zipfile, the reader MWAA's images use, makes of the archive. */
function readWithPython(bytes: Buffer) {
  const file = join(mkdtempSync(join(tmpdir(), 'zip-')), 'plugins.zip')
  folders.push(dirname(file))
  writeFileSync(file, bytes)
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'print(json.dumps({"bad": z.testzip(), "names": z.namelist(),',
    '  "times": sorted({str(i.date_time) for i in z.infolist()}),',
    '  "modes": sorted({oct(i.external_attr >> 16) for i in z.infolist()}),',
    '  "text": z.read("lineage/listener.py").decode()}))'
  ].join('\n')
  const run = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(run.stderr)
  return JSON.parse(run.stdout)
}

describe('buildPluginsZip', () => {
  it('gives the same bytes for two checkouts with other times, modes and creation order', async () => {
    const paths = Object.keys(plugins)
    const first = await buildPluginsZip(checkout(paths, new Date('2026-01-02T03:04:05Z'), 0o644))
    const second = await buildPluginsZip(
      checkout([...paths].reverse(), new Date('2026-11-30T15:00:00Z'), 0o755)
    )
    expect(second.bytes.equals(first.bytes)).toBe(true)
    expect(second.sha256).toBe(first.sha256)
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('gives the same bytes in every time zone', async () => {
    const folder = checkout(Object.keys(plugins), new Date(), 0o644)
    const zones = ['UTC', 'Pacific/Kiritimati', 'America/Adak']
    const built = []
    for (const zone of zones) {
      process.env.TZ = zone
      built.push((await buildPluginsZip(folder)).sha256)
    }
    expect(new Set(built).size).toBe(1)
  })

  it('is a zip Python reads: entries in byte order, one fixed time and mode, contents intact', async () => {
    const zip = await buildPluginsZip(checkout(Object.keys(plugins), new Date(), 0o600))
    // '.' sorts before '/', and upper case before lower case.
    const order = [
      'README.md',
      'lineage.py',
      'lineage/__init__.py',
      'lineage/listener.py',
      'operators/s3_sensor.py'
    ]
    expect(zip.entries).toEqual(order)
    expect(readWithPython(zip.bytes)).toEqual({
      bad: null,
      names: order,
      times: ['(1980, 1, 1, 0, 0, 0)'],
      modes: ['0o100644'],
      text: plugins['lineage/listener.py']
    })
  })

  it('leaves out byte-code caches, and another change of content gives other bytes', async () => {
    const folder = checkout(Object.keys(plugins), new Date(), 0o644)
    const clean = await buildPluginsZip(folder)
    mkdirSync(join(folder, 'lineage', '__pycache__'))
    writeFileSync(join(folder, 'lineage', '__pycache__', 'listener.cpython-312.pyc'), 'bytecode')
    writeFileSync(join(folder, 'operators', 'old.pyc'), 'bytecode')
    expect((await buildPluginsZip(folder)).sha256).toBe(clean.sha256)
    writeFileSync(join(folder, 'operators', 's3_sensor.py'), 'SENSOR = 2\n')
    expect((await buildPluginsZip(folder)).sha256).not.toBe(clean.sha256)
  })
})

describe('pluginFiles', () => {
  it('refuses a link, naming it, so no file of the runner can ride along', async () => {
    const folder = checkout(['lineage.py'], new Date(), 0o644)
    symlinkSync('/etc/passwd', join(folder, 'passwd.py'))
    await expect(pluginFiles(folder)).rejects.toThrow(
      `${folder}/passwd.py is a symbolic link; plugins.zip holds regular files and folders only`
    )
  })

  it('refuses a path that is not a folder', async () => {
    await expect(pluginFiles('/nonexistent/plugins')).rejects.toThrow(
      '/nonexistent/plugins is not a folder'
    )
  })
})
