import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, type ScalarTag, type CollectionTag } from 'yaml'

// Reading the CloudFormation template the way CloudFormation does: short-form tags become the long
// form, and a parameter set resolves conditions and intrinsic functions, with AWS::NoValue taking
// its element out of a list (moto leaves a null there instead).

export const TEMPLATE_PATH = join(process.cwd(), 'infra', 'refresh-workers.yaml')

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type Template = {
  Parameters: Record<
    string,
    { Type: string; Default?: string | number; [key: string]: Json | undefined }
  >
  Conditions: Record<string, Json>
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, Json> }>
  Outputs: Record<string, { Value: Json; Condition?: string }>
}

const INTRINSICS = [
  'Ref',
  'Condition',
  'GetAtt',
  'Sub',
  'Join',
  'Split',
  'Select',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'Contains',
  'Base64',
  'GetAZs',
  'FindInMap',
  'ImportValue'
]

function longName(name: string): string {
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`
}

const customTags: (ScalarTag | CollectionTag)[] = INTRINSICS.flatMap((name) => [
  {
    tag: `!${name}`,
    resolve: (value: string) =>
      name === 'GetAtt' ? { 'Fn::GetAtt': value.split('.') } : { [longName(name)]: value }
  } as ScalarTag,
  {
    tag: `!${name}`,
    collection: 'seq',
    resolve: (value: { toJSON(): unknown }) => ({ [longName(name)]: value.toJSON() })
  } as unknown as CollectionTag,
  {
    tag: `!${name}`,
    collection: 'map',
    resolve: (value: { toJSON(): unknown }) => ({ [longName(name)]: value.toJSON() })
  } as unknown as CollectionTag
])

export function parseTemplate(text: string): Template {
  return parse(text, { customTags, maxAliasCount: -1 }) as Template
}

export function loadTemplate(path = TEMPLATE_PATH): Template {
  return parseTemplate(readFileSync(path, 'utf8'))
}

export const ACCOUNT = '123456789012'
export const REGION = 'us-east-1'

const NO_VALUE = Symbol('NoValue')

/**
 * Evaluates a template for `parameters` (defaults filled in). Resources get the physical ids
 * `physical(name)`, `GetAtt X.Arn` the ARN `arn:X`. The result holds only created resources.
 */
export function resolveTemplate(
  template: Template,
  given: Record<string, string>,
  stackName = 'refresh'
): {
  conditions: Record<string, boolean>
  resources: Template['Resources']
  outputs: Record<string, Json>
} {
  const parameters: Record<string, Json> = {}
  for (const [name, spec] of Object.entries(template.Parameters)) {
    const text = given[name] ?? (spec.Default === undefined ? undefined : String(spec.Default))
    if (text === undefined) throw new Error(`parameter ${name} has no value and no default`)
    parameters[name] =
      spec.Type === 'CommaDelimitedList' ? text.split(',').map((s) => s.trim()) : text
  }
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::StackName': stackName
  }
  const conditions: Record<string, boolean> = {}
  const condition = (name: string): boolean => {
    if (!(name in conditions)) {
      const value = evaluate(template.Conditions[name] as Json)
      if (typeof value !== 'boolean') throw new Error(`condition ${name} is not a boolean`)
      conditions[name] = value
    }
    return conditions[name] as boolean
  }
  const ref = (name: string): Json => {
    if (name in parameters) return parameters[name] as Json
    if (name in pseudo) return pseudo[name] as string
    if (name in template.Resources) return `physical-${name}`
    throw new Error(`Ref to unknown ${name}`)
  }
  const sub = (text: string, vars: Record<string, Json>): string =>
    text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in vars) return String(vars[name])
      if (name.includes('.')) return `arn:${name.split('.')[0]}`
      return String(ref(name))
    })
  function evaluate(node: Json): Json | typeof NO_VALUE {
    if (Array.isArray(node)) {
      return node.map(evaluate).filter((item) => item !== NO_VALUE) as Json[]
    }
    if (node === null || typeof node !== 'object') return node
    const keys = Object.keys(node)
    if (keys.length === 1) {
      const [key] = keys as [string]
      const arg = node[key] as Json
      switch (key) {
        case 'Ref':
          return arg === 'AWS::NoValue' ? NO_VALUE : ref(arg as string)
        case 'Condition':
          return condition(arg as string)
        case 'Fn::GetAtt':
          return `arn:${(arg as string[])[0]}`
        case 'Fn::If': {
          const [name, yes, no] = arg as [string, Json, Json]
          return evaluate(condition(name) ? yes : no)
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as Json[]).map(evaluate)
          return JSON.stringify(a) === JSON.stringify(b)
        }
        case 'Fn::Not':
          return !evaluate((arg as Json[])[0] as Json)
        case 'Fn::And':
          return (arg as Json[]).every((item) => evaluate(item) === true)
        case 'Fn::Or':
          return (arg as Json[]).some((item) => evaluate(item) === true)
        case 'Fn::Join': {
          const [separator, items] = arg as [string, Json]
          return (evaluate(items) as Json[]).join(separator)
        }
        case 'Fn::Split': {
          const [separator, text] = arg as [string, Json]
          return (evaluate(text) as string).split(separator)
        }
        case 'Fn::Select': {
          const [index, items] = arg as [Json, Json]
          const list = evaluate(items) as Json[]
          const at = Number(evaluate(index))
          if (at >= list.length) throw new Error(`Fn::Select index ${at} is out of range`)
          return list[at] as Json
        }
        case 'Fn::Base64':
          return Buffer.from(String(evaluate(arg)), 'utf8').toString('base64')
        case 'Fn::Sub': {
          if (typeof arg === 'string') return sub(arg, {})
          const [text, vars] = arg as [string, Record<string, Json>]
          const values = Object.fromEntries(
            Object.entries(vars).map(([name, value]) => [name, evaluate(value) as Json])
          )
          return sub(text, values)
        }
      }
      if (key.startsWith('Fn::')) throw new Error(`${key} is not handled here`)
    }
    const out: Record<string, Json> = {}
    for (const [key, value] of Object.entries(node)) {
      const result = evaluate(value)
      if (result !== NO_VALUE) out[key] = result
    }
    return out
  }
  for (const name of Object.keys(template.Conditions)) condition(name)
  const resources: Template['Resources'] = {}
  for (const [name, resource] of Object.entries(template.Resources)) {
    if (resource.Condition !== undefined && !condition(resource.Condition)) continue
    resources[name] = {
      Type: resource.Type,
      Properties: evaluate(resource.Properties as Json) as Record<string, Json>
    }
  }
  const outputs: Record<string, Json> = {}
  for (const [name, output] of Object.entries(template.Outputs)) {
    if (output.Condition !== undefined && !condition(output.Condition)) continue
    outputs[name] = evaluate(output.Value) as Json
  }
  return { conditions, resources, outputs }
}
