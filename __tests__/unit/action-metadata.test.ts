import { describe, expect, it } from '@jest/globals'
import * as deployDags from '../../src/deploy-dags/constants.js'
import * as invokeLambda from '../../src/invoke-lambda/constants.js'
import {
  inputVariable,
  loadAction,
  parseFileCommands,
  parseWorkflowCommands
} from '../../test-support/runner.mjs'

describe.each([
  ['deploy-dags', deployDags],
  ['invoke-lambda', invokeLambda]
])('actions/%s/action.yml', (name, { Input, Output }) => {
  const { metadata } = loadAction(name)

  it('declares exactly the inputs and outputs the code reads and sets', () => {
    expect(Object.keys(metadata.inputs ?? {}).sort()).toEqual(Object.values(Input).sort())
    expect(Object.keys(metadata.outputs ?? {}).sort()).toEqual(Object.values(Output).sort())
  })

  it('runs on node24 from the committed bundle', () => {
    expect(metadata.runs).toEqual({ using: 'node24', main: `../../dist/${name}/index.js` })
  })
})

describe('deploy-dags defaults', () => {
  const { metadata } = loadAction('deploy-dags')

  it('keeps the documented defaults', () => {
    const inputs = metadata.inputs ?? {}
    expect(inputs.source?.default).toBe('dags')
    expect(inputs.prefix?.default).toBe('dags')
    expect(inputs.delete?.default).toBe('true')
    expect(inputs['max-delete-percent']?.default).toBe('50')
    expect(inputs.exclude?.default?.split('\n').filter(Boolean)).toEqual(['__pycache__/', '*.pyc'])
    expect(inputs.bucket?.required).toBe(true)
  })
})

describe('invoke-lambda defaults', () => {
  it('match the constants the code falls back to', () => {
    const inputs = loadAction('invoke-lambda').metadata.inputs ?? {}
    expect(inputs.timeout?.default).toBe(String(invokeLambda.DEFAULT_TIMEOUT_SECONDS))
    expect(inputs['ready-timeout']?.default).toBe(
      String(invokeLambda.DEFAULT_READY_TIMEOUT_SECONDS)
    )
    expect(inputs['invocation-type']?.default).toBe('RequestResponse')
    expect(inputs['function-name']?.required).toBe(true)
  })
})

describe('runner model', () => {
  it('names input variables as the runner does', () => {
    expect(inputVariable('dry-run')).toBe('INPUT_DRY-RUN')
    expect(inputVariable('my input')).toBe('INPUT_MY_INPUT')
  })

  it('ignores workflow commands between stop-commands and its token, as the runner does', () => {
    const stdout =
      '::warning::real\n::stop-commands::abc\n::error::shown, not obeyed\n::abc::\n::error::real'
    expect(parseWorkflowCommands(stdout).map((c) => c.message)).toEqual(['real', 'real'])
  })

  it('reads file commands in both forms', () => {
    const text =
      'changed<<ghadelimiter_1\ntrue\nghadelimiter_1\nchanges<<ghadelimiter_2\n{"a":\n1}\nghadelimiter_2\nplain=value=x\n'
    expect(parseFileCommands(text)).toEqual({
      changed: 'true',
      changes: '{"a":\n1}',
      plain: 'value=x'
    })
    expect(() => parseFileCommands('x<<EOF\nvalue\n')).toThrow('unterminated')
  })
})
