import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readAwsTarget } from '../../src/common/aws.js'
import { booleanInput, integerInput, listInput } from '../../src/common/inputs.js'
import { readSettings } from '../../src/deploy-dags/settings.js'
import { useInputSandbox } from '../support/input-sandbox.js'

const sandbox = useInputSandbox({ 'dags/': '', 'notes.txt': 'x' })
const { setInputs } = sandbox

const valid = { bucket: 'airflow-dags', region: 'eu-west-1', source: 'dags', prefix: 'dags' }

describe('strict input readers', () => {
  it('accepts only YAML booleans', () => {
    setInputs({ flag: 'True' })
    expect(booleanInput('flag', false)).toBe(true)
    setInputs({ flag: 'yes' })
    expect(() => booleanInput('flag', false)).toThrow("flag: must be true or false, got 'yes'")
    setInputs({})
    expect(booleanInput('flag', true)).toBe(true)
  })

  it('reads whole numbers within a range', () => {
    setInputs({ n: '8' })
    expect(integerInput('n', 1, { min: 1, max: 64 })).toBe(8)
    setInputs({ n: 'eight' })
    expect(() => integerInput('n', 1, { min: 1, max: 64 })).toThrow(
      'n: must be a whole number from 1 to 64'
    )
    setInputs({ n: '1.5' })
    expect(() => integerInput('n', 1, { min: 1, max: 64 })).toThrow('whole number')
    setInputs({ n: '65' })
    expect(() => integerInput('n', 1, { min: 1, max: 64 })).toThrow(
      'n: must be from 1 to 64, got 65'
    )
  })

  it('reads lists without blanks and comments', () => {
    setInputs({ list: 'a\n\n  # note\n b \r\nc' })
    expect(listInput('list')).toEqual(['a', 'b', 'c'])
  })
})

describe('readSettings', () => {
  // Source is held to the workspace; here that is the test's working folder, also on a runner.
  beforeEach(() => {
    delete process.env.GITHUB_WORKSPACE
  })

  it('normalises a valid configuration', async () => {
    setInputs({
      ...valid,
      prefix: '/airflow/dags/',
      exclude: '__pycache__/\n*.pyc',
      sse: 'aws:kms',
      'kms-key-id': 'alias/dags'
    })
    const settings = await readSettings()
    expect(settings.prefix).toBe('airflow/dags')
    expect(settings.sourcePath).toBe(join(sandbox.workdir(), 'dags'))
    expect(settings.deleteExtraneous).toBe(true)
    expect(settings.maxDeletePercent).toBe(50)
    expect(settings.concurrency).toBe(16)
    expect(settings.encryption).toEqual({ sse: 'aws:kms', kmsKeyId: 'alias/dags' })
    expect(settings.target).toEqual({ region: 'eu-west-1' })
    expect(settings.filter('x.pyc')).toBe(false)
  })

  it('reads verify and the symlink opt-in, both off unless asked for', async () => {
    setInputs(valid)
    const defaults = await readSettings()
    expect([defaults.verify, defaults.followSymlinksOutsideSource]).toEqual([false, false])
    setInputs({ ...valid, verify: 'true', 'follow-symlinks-outside-source': 'true' })
    const chosen = await readSettings()
    expect([chosen.verify, chosen.followSymlinksOutsideSource]).toEqual([true, true])
  })

  it('falls back to the dags prefix when prefix is empty; / is the bucket root', async () => {
    setInputs({ ...valid, prefix: '' })
    expect((await readSettings()).prefix).toBe('dags')
    setInputs({ ...valid, prefix: '/' })
    expect((await readSettings()).prefix).toBe('')
  })

  it('takes the region from AWS_REGION, and signs for us-east-1 against a custom endpoint', async () => {
    setInputs({ ...valid, region: '' })
    process.env.AWS_REGION = 'ap-southeast-2'
    expect((await readSettings()).target.region).toBe('ap-southeast-2')
    delete process.env.AWS_REGION
    setInputs({ ...valid, region: '', 'endpoint-url': 'http://127.0.0.1:5000' })
    expect(readAwsTarget()).toEqual({ region: 'us-east-1', endpointUrl: 'http://127.0.0.1:5000' })
    // S3-compatible stores name regions their own way (Cloudflare R2: auto).
    setInputs({ ...valid, region: 'auto', 'endpoint-url': 'https://r2.example.com' })
    expect(readAwsTarget().region).toBe('auto')
  })

  it.each([
    [{ bucket: '' }, 'bucket: is required'],
    [{ bucket: 's3://airflow-dags/dags' }, 'bucket: give the bucket name only'],
    [{ bucket: 'my/bucket' }, "bucket: 'my/bucket' is not a bucket name"],
    [{ prefix: 'dags/../etc' }, "prefix: 'dags/../etc' has an empty, '.' or '..' segment"],
    [
      { prefix: 'dags\n::add-mask::x' },
      "prefix: 'dags\\n:\\x3aadd-mask:\\x3ax' (shown escaped) holds a control"
    ],
    [{ prefix: 'dags\r/x' }, "prefix: 'dags\\r/x' (shown escaped) holds a control"],
    [{ prefix: 'da\tgs' }, "prefix: 'da\\tgs'"],
    [{ prefix: 'dags\u0085' }, 'holds a control'],
    [
      { bucket: 'my-bucket\n::warning::x' },
      "bucket: 'my-bucket\\n:\\x3awarning:\\x3ax' is not a bucket name"
    ],
    [{ bucket: 'my\tbucket' }, "bucket: 'my\\tbucket' is not a bucket name"],
    [{ verify: 'yes' }, "verify: must be true or false, got 'yes'"],
    [
      { 'follow-symlinks-outside-source': 'on' },
      "follow-symlinks-outside-source: must be true or false, got 'on'"
    ],
    [{ concurrency: 'many' }, "concurrency: must be a whole number from 1 to 64, got 'many'"],
    [{ concurrency: '0' }, 'concurrency: must be from 1 to 64, got 0'],
    [{ 'max-delete-percent': '150' }, 'max-delete-percent: must be from 0 to 100'],
    [{ delete: 'yes' }, "delete: must be true or false, got 'yes'"],
    [{ 'dry-run': '1' }, 'dry-run: must be true or false'],
    [{ sse: 'KMS' }, "sse: must be one of AES256, aws:kms, aws:kms:dsse; got 'KMS'"],
    [{ 'kms-key-id': 'alias/x' }, 'kms-key-id: needs sse: aws:kms'],
    [
      { sse: 'AES256', 'kms-key-id': 'alias/x' },
      'kms-key-id: needs sse: aws:kms (or aws:kms:dsse); sse is AES256'
    ],
    [{ include: '*.py\n[abc' }, "include: pattern 2 '[abc' is not valid: unbalanced '['"],
    [{ exclude: '../x' }, "exclude: pattern 1 '../x' is not valid"],
    [{ region: 'Europe' }, "region: must be an AWS region such as eu-west-1, got 'Europe'"],
    [{ region: '' }, 'region: no AWS region given'],
    [{ 'endpoint-url': 'localhost:5000' }, 'endpoint-url: must be an http:// or https:// URL'],
    [{ source: 'missing' }, "source: folder 'missing' does not exist"],
    [{ source: 'notes.txt' }, "source: 'notes.txt' is a file"]
  ])('rejects %j', async (override, message) => {
    setInputs({ ...valid, ...override })
    await expect(readSettings()).rejects.toThrow(message)
  })

  describe('a source that is really somewhere else', () => {
    let outside: string
    beforeEach(() => {
      outside = mkdtempSync(join(tmpdir(), 'outside-'))
      mkdirSync(join(outside, 'dags'))
    })
    afterEach(() => rmSync(outside, { recursive: true, force: true }))

    it.each([
      ['source itself', 'linked', (real: string) => symlinkSync(real, 'linked')],
      ['a folder above it', 'team/dags', (real: string) => symlinkSync(join(real, '..'), 'team')]
    ])('refuses a link out of the workspace on %s unless asked', async (_on, source, link) => {
      const real = realpathSync(join(outside, 'dags'))
      link(real)
      setInputs({ ...valid, source })
      await expect(readSettings()).rejects.toThrow(
        `source: '${source}' is really ${real}, outside the workspace (${realpathSync(sandbox.workdir())})`
      )
      setInputs({ ...valid, source, 'follow-symlinks-outside-source': 'true' })
      expect((await readSettings()).sourcePath).toBe(join(sandbox.workdir(), source))
    })

    it('holds source to GITHUB_WORKSPACE when it is set, not to the current folder', async () => {
      process.env.GITHUB_WORKSPACE = outside
      setInputs(valid)
      await expect(readSettings()).rejects.toThrow('outside the workspace')
      process.env.GITHUB_WORKSPACE = sandbox.workdir()
      expect((await readSettings()).source).toBe('dags')
    })

    it('refuses a source under /proc, /sys or /dev even with the opt-in', async () => {
      symlinkSync('/proc/self', 'self')
      setInputs({ ...valid, source: 'self', 'follow-symlinks-outside-source': 'true' })
      await expect(readSettings()).rejects.toThrow(
        /^source: 'self' is really \/proc\/\d+, under \/proc; folders under \/proc, \/sys and \/dev are never deployed/
      )
      setInputs({ ...valid, source: '/sys/kernel', 'follow-symlinks-outside-source': 'true' })
      await expect(readSettings()).rejects.toThrow(
        "source: '/sys/kernel' is really /sys/kernel, under /sys"
      )
    })
  })
})
