import { describe, expect, it } from '@jest/globals'
import { Input, Output } from '../../../src/deploy-report/constants.js'
import { loadAction } from '../../../test-support/runner.mjs'

describe('actions/deploy-report/action.yml', () => {
  const { metadata } = loadAction('deploy-report')

  it('declares exactly the inputs and outputs the code reads and sets', () => {
    expect(Object.keys(metadata.inputs ?? {}).sort()).toEqual(Object.values(Input).sort())
    expect(Object.keys(metadata.outputs ?? {}).sort()).toEqual(Object.values(Output).sort())
  })

  it('runs on node24 from the committed bundle, plan mode and the job token by default', () => {
    expect(metadata.runs).toEqual({ using: 'node24', main: '../../dist/deploy-report/index.js' })
    expect(metadata.inputs?.mode?.default).toBe('plan')
    expect(metadata.inputs?.['github-token']?.default).toBe('${{ github.token }}')
    expect(metadata.inputs?.target?.required).toBe(true)
  })
})
