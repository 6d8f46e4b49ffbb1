// infra/github-oidc.yaml against the CloudFormation resource specification (the registry schemas
// as @aws-cdk/aws-service-spec ships them), for what moto's CloudFormation does not check: it has
// no AWS::IAM::OIDCProvider, and accepts properties no real resource has.
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { parse } from 'yaml'

type Node = unknown
interface Resource {
  Type: string
  Condition?: string
  Properties?: Record<string, Node>
}
interface Template {
  Parameters: Record<string, { Type: string; Default?: string; AllowedPattern?: string }>
  Conditions: Record<string, Node>
  Resources: Record<string, Resource>
  Outputs: Record<string, { Condition?: string; Value: Node }>
}
interface SpecResource {
  cloudFormationType: string
  properties: Record<string, { required?: boolean }>
  attributes: Record<string, unknown>
}

const templateText = readFileSync(
  resolve(import.meta.dirname, '..', '..', 'infra', 'github-oidc.yaml'),
  'utf8'
)
const template = parse(templateText) as Template

const specPath = join(
  dirname(createRequire(import.meta.url).resolve('@aws-cdk/aws-service-spec')),
  '..',
  'db.json.gz'
)
const spec = new Map(
  (
    JSON.parse(gunzipSync(readFileSync(specPath)).toString('utf8')) as {
      schema: { resource: { entities: SpecResource[] } }
    }
  ).schema.resource.entities.map((entity) => [entity.cloudFormationType, entity])
)

/** Every node of the template with the path to it. */
function* walk(node: Node, path: string[] = []): Generator<[Node, string[]]> {
  yield [node, path]
  if (Array.isArray(node))
    for (const [i, item] of node.entries()) yield* walk(item, [...path, String(i)])
  else if (node !== null && typeof node === 'object')
    for (const [key, value] of Object.entries(node)) yield* walk(value, [...path, key])
}

const pseudoParameters = new Set([
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::NoValue'
])

describe('infra/github-oidc.yaml', () => {
  it('is plain YAML: intrinsic functions in their long form, no custom tags', () => {
    const lines = templateText.split('\n').filter((line) => !/^\s*#/.test(line))
    expect(
      lines.filter((line) => /(^|\s)!(Sub|Ref|If|GetAtt|Join|Split|Equals|Not|And|Or)\b/.test(line))
    ).toEqual([])
    expect(Object.keys(template.Resources).length).toBeGreaterThan(0)
  })

  it('uses only resource types, properties and attributes the specification has', () => {
    for (const [name, resource] of Object.entries(template.Resources)) {
      const type = spec.get(resource.Type)
      expect([name, type?.cloudFormationType]).toEqual([name, resource.Type])
      const given = Object.keys(resource.Properties ?? {})
      const known = Object.keys(type!.properties)
      expect([name, given.filter((property) => !known.includes(property))]).toEqual([name, []])
      const required = known.filter((property) => type!.properties[property]!.required)
      expect([name, required.filter((property) => !given.includes(property))]).toEqual([name, []])
    }
    for (const [node] of walk(template)) {
      const getAtt = (node as Record<string, [string, string]> | null)?.['Fn::GetAtt']
      if (!Array.isArray(getAtt)) continue
      const [resource, attribute] = getAtt
      expect(Object.keys(spec.get(template.Resources[resource]!.Type)!.attributes)).toContain(
        attribute
      )
    }
  })

  it("creates GitHub's provider only when asked, for the STS audience", () => {
    expect(template.Resources.GitHubOidcProvider).toEqual({
      Type: 'AWS::IAM::OIDCProvider',
      Condition: 'CreateProvider',
      Properties: {
        Url: 'https://token.actions.githubusercontent.com',
        ClientIdList: ['sts.amazonaws.com']
      }
    })
  })

  it('refers only to parameters, resources and conditions it defines', () => {
    const names = new Set([
      ...Object.keys(template.Parameters),
      ...Object.keys(template.Resources),
      ...pseudoParameters
    ])
    for (const [node, path] of walk(template)) {
      const record = node as Record<string, Node> | null
      if (record === null || typeof record !== 'object' || Array.isArray(record)) continue
      if (typeof record.Ref === 'string')
        expect([path, names.has(record.Ref)]).toEqual([path, true])
      if (typeof record['Fn::Sub'] === 'string')
        for (const [, variable] of record['Fn::Sub'].matchAll(/\$\{([^}!]+)\}/g))
          expect([path, variable, names.has(variable!)]).toEqual([path, variable, true])
      const condition = record.Condition
      if (typeof condition === 'string' && path.at(-1) !== 'Properties')
        expect([path, condition in template.Conditions]).toEqual([path, true])
    }
  })

  it('outputs each role ARN under the condition its role is made under', () => {
    for (const role of ['DagDeployRole', 'DagPlanRole', 'AppDeployRole', 'SweepRole']) {
      expect(template.Outputs[`${role}Arn`]).toMatchObject({
        Value: { 'Fn::GetAtt': [role, 'Arn'] }
      })
      expect(template.Outputs[`${role}Arn`]!.Condition).toBe(template.Resources[role]!.Condition)
    }
  })

  describe('policies', () => {
    const roles = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role')
    const policies = Object.entries(template.Resources).filter(
      ([, r]) => r.Type === 'AWS::IAM::Policy'
    )

    it('are documents: a version and a list of statements, each with effect, action and target', () => {
      const documents = [
        ...roles.map(([name, r]) => [name, r.Properties!.AssumeRolePolicyDocument] as const),
        ...policies.map(([name, r]) => [name, r.Properties!.PolicyDocument] as const)
      ]
      expect(documents.length).toBe(4 + 9)
      for (const [name, document] of documents) {
        const { Version, Statement } = document as { Version: string; Statement: Node[] }
        expect([name, Version, Array.isArray(Statement)]).toEqual([name, '2012-10-17', true])
        for (const statement of Statement) {
          // A statement chosen by Fn::If is checked in both forms.
          const forms = (statement as Record<string, Node[]>)['Fn::If']?.slice(1) ?? [statement]
          for (const form of forms as Record<string, Node>[]) {
            expect([name, form.Effect]).toEqual([name, 'Allow'])
            expect([name, form.Action !== undefined]).toEqual([name, true])
            const target = name.endsWith('Role') ? form.Principal : form.Resource
            expect([name, target !== undefined]).toEqual([name, true])
          }
        }
      }
    })

    it('trust each role for one exact GitHub subject and the STS audience', () => {
      for (const [name, role] of roles) {
        const { Statement } = role.Properties!.AssumeRolePolicyDocument as {
          Statement: Record<string, Node>[]
        }
        expect(Statement).toHaveLength(1)
        expect(Statement[0]!.Action).toBe('sts:AssumeRoleWithWebIdentity')
        const condition = Statement[0]!.Condition as Record<string, Record<string, Node>>
        // StringEquals only: no wildcard can widen the subject to other branches or repositories.
        expect([name, Object.keys(condition)]).toEqual([name, ['StringEquals']])
        expect(condition.StringEquals!['token.actions.githubusercontent.com:aud']).toBe(
          'sts.amazonaws.com'
        )
        expect(condition.StringEquals!['token.actions.githubusercontent.com:sub']).toEqual({
          'Fn::Sub': expect.stringMatching(/^repo:\$\{Repository\}:/)
        })
      }
    })

    it('grant Resource "*" only for the describes that have no resource-level permissions', () => {
      for (const [node, path] of walk(template.Resources)) {
        const statement = node as Record<string, Node> | null
        if (statement === null || typeof statement !== 'object' || statement.Resource !== '*')
          continue
        expect([path, statement.Action]).toEqual([
          path,
          ['ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules']
        ])
      }
    })
  })

  describe('parameters', () => {
    const allows = (name: string, value: string) =>
      new RegExp(template.Parameters[name]!.AllowedPattern!).test(value)

    it('keep wildcards and stray slashes out of the DAG prefix', () => {
      for (const good of ['dags', 'teams/data/dags', '/', '', 'd'])
        expect([good, allows('DagPrefix', good)]).toEqual([good, true])
      for (const bad of ['dags/', '/dags', 'dags*', 'da?s', '*', 'teams/*/dags'])
        expect([bad, allows('DagPrefix', bad)]).toEqual([bad, false])
    })

    it('take one repository, and ARNs without wildcards', () => {
      expect(allows('Repository', 'octo-org/airflow')).toBe(true)
      for (const bad of ['octo-org/*', 'octo-org', 'octo-org/airflow:ref', 'a/b/c'])
        expect([bad, allows('Repository', bad)]).toEqual([bad, false])
      expect(
        allows('RefreshFunctionArn', 'arn:aws:lambda:eu-west-1:123456789012:function:refresh')
      ).toBe(true)
      expect(allows('RefreshFunctionArn', 'arn:aws:lambda:eu-west-1:123456789012:function:*')).toBe(
        false
      )
      expect(
        allows('RefreshFunctionArn', 'arn:aws:lambda:eu-west-1:123456789012:function:f:live')
      ).toBe(false)
      expect(allows('DagBucketKmsKeyArn', 'arn:aws:kms:eu-west-1:123456789012:alias/dags')).toBe(
        false
      )
      for (const name of ['DeployEnvironment', 'SweepBranch'])
        expect([name, allows(name, 'prod*'), allows(name, 'main')]).toEqual([name, false, true])
    })

    it('take one MWAA environment, execution role and Airflow role, and keys without wildcards', () => {
      for (const good of ['', 'analytics', 'MyAirflow_Env-2'])
        expect([good, allows('MwaaEnvironment', good)]).toEqual([good, true])
      for (const bad of ['analytics*', '2fast', 'a/b', 'a:b'])
        expect([bad, allows('MwaaEnvironment', bad)]).toEqual([bad, false])
      expect(
        allows('MwaaExecutionRoleArn', 'arn:aws:iam::123456789012:role/service-role/mwaa-exec')
      ).toBe(true)
      expect(allows('MwaaExecutionRoleArn', 'arn:aws:iam::123456789012:role/*')).toBe(false)
      expect([allows('MwaaAirflowRole', 'Viewer'), allows('MwaaAirflowRole', '*')]).toEqual([
        true,
        false
      ])
      for (const name of ['MwaaRequirementsKey', 'MwaaPluginsKey', 'MwaaStartupScriptKey']) {
        expect([name, allows(name, 'mwaa/plugins.zip'), allows(name, 'requirements.txt')]).toEqual([
          name,
          true,
          true
        ])
        for (const bad of ['', '/requirements.txt', 'plugins*.zip', 'start?p.sh'])
          expect([name, bad, allows(name, bad)]).toEqual([name, bad, false])
      }
    })

    it('grant MWAA only with an environment, and the plan role only reads it', () => {
      const conditions = template.Conditions as Record<string, Node>
      expect(conditions.HasMwaaEnvironment).toEqual({
        'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'MwaaEnvironment' }, ''] }]
      })
      expect(template.Resources.DagDeployMwaaPolicy!.Condition).toBe('HasMwaaEnvironment')
      expect(template.Resources.DagPlanMwaaPolicy!.Condition).toBe('MakePlanMwaaPolicy')
      const mentions = (name: string) => JSON.stringify(template.Resources[name])
      for (const [name, resource] of Object.entries(template.Resources))
        if (!/Mwaa/.test(name))
          expect([
            name,
            /airflow:|MwaaEnvironment|iam:PassRole/.test(JSON.stringify(resource))
          ]).toEqual([name, false])
      expect(mentions('DagPlanMwaaPolicy')).not.toMatch(
        /UpdateEnvironment|InvokeRestApi|PassRole|PutObject/
      )
    })
  })

  describe('documentation', () => {
    const read = (path: string) =>
      readFileSync(resolve(import.meta.dirname, '..', '..', path), 'utf8')

    it.each(['README.md', 'docs/github-oidc.md'])(
      '%s shows only whole policy documents',
      (path) => {
        const blocks = [...read(path).matchAll(/```json\n([\s\S]*?)```/g)]
          .map((block) => block[1]!)
          .filter((text) => text.includes('"Effect"'))
        for (const text of blocks) {
          const document = JSON.parse(text) as { Version: string; Statement: Node[] }
          expect(document.Version).toBe('2012-10-17')
          expect(Array.isArray(document.Statement)).toBe(true)
          for (const statement of document.Statement as Record<string, Node>[])
            expect(Object.keys(statement)).toEqual(
              expect.arrayContaining(['Effect', 'Action', 'Resource'])
            )
        }
      }
    )

    it("names only the template's parameters in its deploy commands", () => {
      const commands = [...read('docs/github-oidc.md').matchAll(/```sh\n([\s\S]*?)```/g)]
        .map((block) => block[1]!)
        .filter((text) => text.includes('--parameter-overrides'))
      expect(commands.length).toBeGreaterThan(0)
      for (const command of commands) {
        const names = [...command.matchAll(/^\s+([A-Za-z]+)=/gm)].map((match) => match[1]!)
        expect(names.length).toBeGreaterThan(0)
        expect(names.filter((name) => !(name in template.Parameters))).toEqual([])
      }
      expect(commands[0]).toContain('--template-file infra/github-oidc.yaml')
      expect(commands[0]).toContain('--capabilities CAPABILITY_IAM')
    })
  })
})
