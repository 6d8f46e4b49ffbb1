// The scheduled sweep a user copies (examples/workflows/sweep-rules.yml), run as GitHub runs it:
// configure-aws-credentials is the stand-in that points the job at moto_server, and the pack's
// action is the committed bundle in sweep-only mode.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startMoto, type Moto } from '../../test-support/moto.mjs'
import { packResolver, type CredentialsRequest } from '../../test-support/pack-uses.mjs'
import { nodeRuntimes } from '../../test-support/runner.mjs'
import { runWorkflow } from '../../test-support/workflow.mjs'
import { createGroup, earlierRunTags, ingressRuleIds, ruleWith } from './security-groups.js'

const repo = resolve(import.meta.dirname, '..', '..')
const [node24] = nodeRuntimes()
const REGION = 'eu-west-1' // the example caller's region
const EXAMPLE_GROUP = 'sg-0123456789abcdef0'

let moto: Moto
let ec2: EC2Client
let vpcId: string
const folders: string[] = []

beforeAll(async () => {
  moto = await startMoto()
  ec2 = new EC2Client({
    endpoint: moto.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  })
  vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!
}, 60_000)

afterAll(async () => {
  ec2?.destroy()
  await moto?.stop()
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

const newGroup = () => createGroup(ec2, vpcId, 'bastion')

/** The example caller as a user copies it, pointed at `groupId`. */
function exampleCaller(groupId: string): string {
  const workflow = readFileSync(join(repo, 'examples', 'workflows', 'sweep-rules.yml'), 'utf8')
  if (!workflow.includes(`            ${EXAMPLE_GROUP}\n`))
    throw new Error('sweep-rules.yml names no security group')
  const folder = mkdtempSync(join(tmpdir(), 'sweep-caller-'))
  folders.push(folder)
  const caller = join(folder, 'sweep-rules.yml')
  writeFileSync(caller, workflow.replace(EXAMPLE_GROUP, groupId))
  return caller
}

async function runSweep(file: string, event: string) {
  const requests: CredentialsRequest[] = []
  const result = await runWorkflow({
    file,
    event,
    node: node24?.path,
    resolveUses: packResolver({
      endpoint: moto.endpoint,
      packSha: '5d1f6a0c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c',
      credentialRequests: requests
    }),
    timeoutMs: 120_000,
    github: {
      repository: 'octo-org/app',
      sha: 'ffac537e6cbbf934b08745a378932722df287a53',
      ref: 'refs/heads/main',
      run_id: '5151',
      run_attempt: '1'
    }
  })
  return { result, requests }
}

describe('examples/workflows/sweep-rules.yml', () => {
  test.each(['schedule', 'workflow_dispatch'])(
    'on %s, closes only the expired rule of this pack and reports it',
    async (event) => {
      const groupId = await newGroup()
      const leaked = await ruleWith(
        ec2,
        groupId,
        '198.51.100.1/32',
        earlierRunTags(new Date(Date.now() - 7 * 3600_000), 3600, '41')
      )
      const fresh = await ruleWith(
        ec2,
        groupId,
        '198.51.100.2/32',
        earlierRunTags(new Date(), 21600, '42')
      )
      const foreign = await ruleWith(ec2, groupId, '198.51.100.3/32', [
        { Key: 'created-at', Value: '2020-01-01T00:00:00.000Z' }
      ])
      const { result, requests } = await runSweep(exampleCaller(groupId), event)
      expect({ result: result.result, log: result.result === 'success' ? '' : result.log }).toEqual(
        { result: 'success', log: '' }
      )
      expect(requests).toEqual([
        {
          region: REGION,
          role: 'arn:aws:iam::123456789012:role/deploy-rule-sweeper',
          keyId: ''
        }
      ])
      expect(await ingressRuleIds(ec2, groupId)).toEqual([fresh, foreign].sort())
      const sweep = result.jobs.sweep!
      expect(sweep.steps.sweep?.outputs['swept-rule-ids']).toBe(leaked)
      expect(sweep.summary).toContain(`| \`${leaked}\` | \`${groupId}\` | expired `)
      expect(sweep.summary).toContain('`octo-org/app` run `41`')
      expect(sweep.annotations).toEqual([])
    }
  )

  test('a group with nothing expired: nothing closed, and the summary says so', async () => {
    const groupId = await newGroup()
    const fresh = await ruleWith(
      ec2,
      groupId,
      '198.51.100.2/32',
      earlierRunTags(new Date(), 21600, '43')
    )
    const { result } = await runSweep(exampleCaller(groupId), 'schedule')
    expect(result.result).toBe('success')
    expect(await ingressRuleIds(ec2, groupId)).toEqual([fresh])
    expect(result.jobs.sweep?.steps.sweep?.outputs['swept-rule-ids']).toBe('')
    expect(result.jobs.sweep?.summary).toContain(
      `No rule of this action had expired in \`${groupId}\`; nothing was closed.`
    )
  })
})
