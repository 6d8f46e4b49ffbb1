import { describe, expect, it } from '@jest/globals'
import { DEFAULT_MAX_PARALLEL, Input, Output } from '../../../src/ephemeral-sg-ssh/constants.js'
import { loadAction } from '../../../test-support/runner.mjs'

describe('actions/ephemeral-sg-ssh/action.yml', () => {
  const { metadata } = loadAction('ephemeral-sg-ssh')

  it('declares exactly the inputs and outputs the code reads and sets', () => {
    expect(Object.keys(metadata.inputs ?? {}).sort()).toEqual(Object.values(Input).sort())
    expect(Object.keys(metadata.outputs ?? {}).sort()).toEqual(Object.values(Output).sort())
  })

  it('needs only the security groups, so that sweep-only needs nothing else', () => {
    const required = Object.entries(metadata.inputs ?? {})
      .filter(([, input]) => input.required === true)
      .map(([name]) => name)
    expect(required).toEqual(['security-group-ids'])
    expect(metadata.inputs?.['sweep-only']?.default).toBe('false')
    expect(metadata.inputs?.['keep-special-bits']?.default).toBe('false')
  })

  it('declares the max-parallel default the code falls back to', () => {
    expect(metadata.inputs?.['max-parallel']?.default).toBe(String(DEFAULT_MAX_PARALLEL))
  })
})
