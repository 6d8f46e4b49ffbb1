import { describe, expect, it } from '@jest/globals'
import type { MwaaEnvironment } from '../../../src/common/mwaa.js'
import { brokenReason, judgeUpdate, readinessOf } from '../../../src/deploy-mwaa/status.js'

const at = (iso: string) => new Date(iso)
const env = (status: string, lastUpdate?: MwaaEnvironment['lastUpdate']): MwaaEnvironment => ({
  name: 'airflow',
  status,
  files: {},
  ...(lastUpdate !== undefined ? { lastUpdate } : {})
})

describe('readinessOf', () => {
  it.each([
    ['AVAILABLE', 'ready'],
    ['UPDATE_FAILED', 'ready'],
    ['UPDATING', 'busy'],
    ['CREATING', 'busy'],
    ['CREATING_SNAPSHOT', 'busy'],
    ['ROLLING_BACK', 'busy'],
    ['MAINTENANCE', 'busy'],
    ['SOMETHING_NEW', 'busy'],
    ['CREATE_FAILED', 'broken'],
    ['DELETING', 'broken'],
    ['DELETED', 'broken'],
    ['UNAVAILABLE', 'broken'],
    ['PENDING', 'broken']
  ])('%s is %s', (status, readiness) => {
    expect(readinessOf(status)).toBe(readiness)
  })
})

describe('judgeUpdate', () => {
  const before = at('2026-11-30T10:00:00Z')
  const later = at('2026-11-30T10:00:05Z')

  it('is running while MWAA has not recorded a newer update, even when AVAILABLE', () => {
    expect(judgeUpdate(env('AVAILABLE', { status: 'SUCCESS', createdAt: before }), before)).toEqual(
      {
        state: 'running',
        status: 'AVAILABLE'
      }
    )
  })

  it('succeeds once the newer update succeeded and the environment is AVAILABLE', () => {
    expect(judgeUpdate(env('UPDATING', { status: 'PENDING', createdAt: later }), before)).toEqual({
      state: 'running',
      status: 'UPDATING'
    })
    expect(judgeUpdate(env('AVAILABLE', { status: 'SUCCESS', createdAt: later }), before)).toEqual({
      state: 'succeeded'
    })
    // The first update an environment ever had.
    expect(
      judgeUpdate(env('AVAILABLE', { status: 'SUCCESS', createdAt: later }), undefined)
    ).toEqual({
      state: 'succeeded'
    })
  })

  it('fails with the reason once the rollback has ended', () => {
    const error = {
      code: 'INCORRECT_CONFIGURATION',
      message: 'pip install failed:\nno such package'
    }
    expect(
      judgeUpdate(env('ROLLING_BACK', { status: 'FAILED', createdAt: later, error }), before)
    ).toEqual({ state: 'running', status: 'ROLLING_BACK' })
    expect(
      judgeUpdate(env('UPDATE_FAILED', { status: 'FAILED', createdAt: later, error }), before)
    ).toEqual({
      state: 'failed',
      code: 'INCORRECT_CONFIGURATION',
      message: 'pip install failed:\\nno such package'
    })
  })

  it('reports an environment that broke, with the last update error', () => {
    const progress = judgeUpdate(
      env('UNAVAILABLE', {
        status: 'PENDING',
        createdAt: later,
        error: { code: 'X', message: 'y' }
      }),
      before
    )
    expect(progress).toEqual({
      state: 'broken',
      reason: expect.stringContaining('environment airflow is UNAVAILABLE') as unknown as string
    })
  })
})

describe('brokenReason', () => {
  it('says why a PENDING environment cannot take a deploy', () => {
    expect(brokenReason(env('PENDING'))).toContain('until the VPC endpoints it needs exist')
    expect(brokenReason(env('DELETED'))).toBe('environment airflow is DELETED')
  })
})
