import { spawnSync } from 'node:child_process'
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client
} from '@aws-sdk/client-s3'
import {
  cpSync,
  rmSync,
  mkdirSync,
  mkdtempSync,
  utimesSync,
  writeFileSync,
  readdirSync,
  readFileSync,
  statSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { parseManifestBytes } from '../../src/deploy-dags/plan.js'
import { manifestTree } from '../../src/refresh-workers/tree.js'
import { startProxy, type Proxy, type ProxyHooks } from '../../test-support/proxy.mjs'
import { nodeRuntimes, runAction } from '../../test-support/runner.mjs'

export const credentials = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1'
}

export function s3For(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  })
}

let bucketCounter = 0
export async function createBucket(s3: S3Client, name = 'dags'): Promise<string> {
  const bucket = `${name}-${process.pid}-${++bucketCounter}`
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  return bucket
}

const madeFolders: string[] = []

/** Removes every workspace and checkout the helpers made; call from afterAll. */
export function removeWorkspaces(): void {
  for (const folder of madeFolders.splice(0)) rmSync(folder, { recursive: true, force: true })
}

/** A checkout: `files` written under the workspace (paths relative to it). */
export function workspaceWith(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'workspace-'))
  madeFolders.push(root)
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  return root
}

/** What actions/checkout gives a new job: the same bytes, every mtime new. */
export function freshCheckout(workspace: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'checkout-'))
  madeFolders.push(copy)
  cpSync(workspace, copy, { recursive: true })
  const later = new Date(Date.now() + 3600_000)
  const touch = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry)
      if (statSync(path).isDirectory()) touch(path)
      else utimesSync(path, later, later)
    }
  }
  touch(copy)
  return copy
}

/** Every object in the bucket (or under `prefix`) with its content. */
export async function bucketContents(
  s3: S3Client,
  bucket: string,
  prefix?: string
): Promise<Record<string, string>> {
  const contents: Record<string, string> = {}
  let token: string | undefined
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })
    )
    for (const item of page.Contents ?? []) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: item.Key! }))
      contents[item.Key!] = (await object.Body!.transformToString('utf-8')) ?? ''
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return contents
}

export function withoutManifest(contents: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(contents).filter(([key]) => !key.endsWith('.deploy-dags-manifest.json'))
  )
}

const startedProxies: Proxy[] = []

/** A recording proxy in front of `endpoint`, stopped by stopProxies() in afterAll. */
export async function proxyFor(endpoint: string, hooks: ProxyHooks = {}): Promise<Proxy> {
  const started = await startProxy(endpoint, hooks)
  startedProxies.push(started)
  return started
}

export async function stopProxies(): Promise<void> {
  await Promise.all(startedProxies.splice(0).map((proxy) => proxy.stop()))
}

/** The tree digest the refresh function computes from the manifest deploy-dags wrote. */
export async function deployedTree(s3: S3Client, bucket: string, prefix = 'dags') {
  const object = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/.deploy-dags-manifest.json` })
  )
  const read = parseManifestBytes((await object.Body?.transformToByteArray()) ?? new Uint8Array())
  if ('problem' in read) throw new Error(`deploy-dags wrote no readable manifest: ${read.problem}`)
  return manifestTree(read.manifest)
}

/** Every file under `root` (hidden ones included), path relative to it -> content. */
export function filesUnder(root: string): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else files[relative(root, full)] = readFileSync(full, 'utf8')
    }
  }
  walk(root)
  return files
}

/**
 * A manifest that vouches for no object: every object in the prefix is then one the manifest
 * does not know, downloaded and compared by content.
 */
export async function manifestOfNothing(s3: S3Client, bucket: string, prefix = 'dags') {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: `${prefix}/.deploy-dags-manifest.json`,
      Body: JSON.stringify({ format: 1, objects: {} })
    })
  )
}

/**
 * Deploys `files` (paths under the DAG folder) to the bucket with the bundled deploy-dags, run
 * as the runner runs it; `inputs` adds to or overrides its inputs (a `prefix`, say).
 */
export async function deployDagFiles(
  endpoint: string,
  bucket: string,
  files: Record<string, string>,
  inputs: Record<string, string> = {}
): Promise<void> {
  const [runtime] = nodeRuntimes()
  const run = await runAction({
    action: 'deploy-dags',
    node: runtime?.path,
    workspace: workspaceWith(
      Object.fromEntries(Object.entries(files).map(([path, text]) => [`dags/${path}`, text]))
    ),
    env: credentials,
    inputs: { bucket, 'endpoint-url': endpoint, ...inputs }
  })
  if (run.exitCode !== 0) throw new Error(`deploy-dags failed: ${run.errors.join('; ')}`)
}

/** Fails the suite, never skips it, when the AWS CLI that the worker sync script runs is missing. */
export function requireAwsCli(): void {
  if (spawnSync('aws', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(
      'the AWS CLI (aws) is not on the PATH; .ci/run installs it into .cache/moto-venv'
    )
  }
}

/**
 * The environment the worker sync script (or the SSM document around it) runs with here: moto's
 * credentials and endpoint, none of this machine's AWS CLI configuration, then `sync`'s values.
 */
export function workerEnv(
  endpoint: string,
  sync: Record<string, string> = {}
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...credentials,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    // The one setting a real worker does not need: moto instead of S3.
    SYNC_ENDPOINT_URL: endpoint,
    ...sync
  }
}
