// Reading the CloudFormation template the way CloudFormation does: short-form tags become the long
// form, and a parameter set resolves conditions and intrinsic functions, with AWS::NoValue taking
// its element out of a list (moto leaves a null there instead). The template tests and the local
// SSM stand-in (refresh-stand-in.mjs) read the stack through this one reader.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'

export const TEMPLATE_PATH = join(import.meta.dirname, '..', 'infra', 'refresh-workers.yaml')

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

function longName(name) {
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`
}

const customTags = INTRINSICS.flatMap((name) => [
  {
    tag: `!${name}`,
    resolve: (value) =>
      name === 'GetAtt' ? { 'Fn::GetAtt': value.split('.') } : { [longName(name)]: value }
  },
  {
    tag: `!${name}`,
    collection: 'seq',
    resolve: (value) => ({ [longName(name)]: value.toJSON() })
  },
  {
    tag: `!${name}`,
    collection: 'map',
    resolve: (value) => ({ [longName(name)]: value.toJSON() })
  }
])

export function parseTemplate(text) {
  return parse(text, { customTags, maxAliasCount: -1 })
}

export function loadTemplate(path = TEMPLATE_PATH) {
  return parseTemplate(readFileSync(path, 'utf8'))
}

export const ACCOUNT = '123456789012'
export const REGION = 'us-east-1'

const NO_VALUE = Symbol('NoValue')

/**
 * Evaluates a template for `parameters` (defaults filled in). Resources get the physical ids
 * `physical(name)`, `GetAtt X.Arn` the ARN `arn:X`. The result holds only created resources.
 */
export function resolveTemplate(template, given, stackName = 'refresh') {
  const parameters = {}
  for (const [name, spec] of Object.entries(template.Parameters)) {
    const text = given[name] ?? (spec.Default === undefined ? undefined : String(spec.Default))
    if (text === undefined) throw new Error(`parameter ${name} has no value and no default`)
    parameters[name] =
      spec.Type === 'CommaDelimitedList' ? text.split(',').map((s) => s.trim()) : text
  }
  const pseudo = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::StackName': stackName
  }
  const conditions = {}
  const condition = (name) => {
    if (!(name in conditions)) {
      const value = evaluate(template.Conditions[name])
      if (typeof value !== 'boolean') throw new Error(`condition ${name} is not a boolean`)
      conditions[name] = value
    }
    return conditions[name]
  }
  const ref = (name) => {
    if (name in parameters) return parameters[name]
    if (name in pseudo) return pseudo[name]
    if (name in template.Resources) return `physical-${name}`
    throw new Error(`Ref to unknown ${name}`)
  }
  const sub = (text, vars) =>
    text.replace(/\$\{([^}!]+)\}/g, (_, name) => {
      if (name in vars) return String(vars[name])
      if (name.includes('.')) return `arn:${name.split('.')[0]}`
      return String(ref(name))
    })
  function evaluate(node) {
    if (Array.isArray(node)) {
      return node.map(evaluate).filter((item) => item !== NO_VALUE)
    }
    if (node === null || typeof node !== 'object') return node
    const keys = Object.keys(node)
    if (keys.length === 1) {
      const [key] = keys
      const arg = node[key]
      switch (key) {
        case 'Ref':
          return arg === 'AWS::NoValue' ? NO_VALUE : ref(arg)
        case 'Condition':
          return condition(arg)
        case 'Fn::GetAtt':
          return `arn:${arg[0]}`
        case 'Fn::If': {
          const [name, yes, no] = arg
          return evaluate(condition(name) ? yes : no)
        }
        case 'Fn::Equals': {
          const [a, b] = arg.map(evaluate)
          return JSON.stringify(a) === JSON.stringify(b)
        }
        case 'Fn::Not':
          return !evaluate(arg[0])
        case 'Fn::And':
          return arg.every((item) => evaluate(item) === true)
        case 'Fn::Or':
          return arg.some((item) => evaluate(item) === true)
        case 'Fn::Join': {
          const [separator, items] = arg
          return evaluate(items).join(separator)
        }
        case 'Fn::Split': {
          const [separator, text] = arg
          return evaluate(text).split(separator)
        }
        case 'Fn::Select': {
          const [index, items] = arg
          const list = evaluate(items)
          const at = Number(evaluate(index))
          if (at >= list.length) throw new Error(`Fn::Select index ${at} is out of range`)
          return list[at]
        }
        case 'Fn::Base64':
          return Buffer.from(String(evaluate(arg)), 'utf8').toString('base64')
        case 'Fn::Sub': {
          if (typeof arg === 'string') return sub(arg, {})
          const [text, vars] = arg
          const values = Object.fromEntries(
            Object.entries(vars).map(([name, value]) => [name, evaluate(value)])
          )
          return sub(text, values)
        }
      }
      if (key.startsWith('Fn::')) throw new Error(`${key} is not handled here`)
    }
    const out = {}
    for (const [key, value] of Object.entries(node)) {
      const result = evaluate(value)
      if (result !== NO_VALUE) out[key] = result
    }
    return out
  }
  for (const name of Object.keys(template.Conditions)) condition(name)
  const resources = {}
  for (const [name, resource] of Object.entries(template.Resources)) {
    if (resource.Condition !== undefined && !condition(resource.Condition)) continue
    resources[name] = {
      Type: resource.Type,
      Properties: evaluate(resource.Properties)
    }
  }
  const outputs = {}
  for (const [name, output] of Object.entries(template.Outputs)) {
    if (output.Condition !== undefined && !condition(output.Condition)) continue
    outputs[name] = evaluate(output.Value)
  }
  return { conditions, resources, outputs }
}
