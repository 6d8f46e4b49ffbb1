import { describe, expect, it } from '@jest/globals'
import type { MwaaApi, MwaaEnvironment } from '../../../src/common/mwaa.js'
import {
  EnvironmentBroken,
  followUpdate,
  waitUntilReady,
  WaitTimeout,
  type Clock,
  type Watch
} from '../../../src/deploy-mwaa/wait.js'

/** A clock whose sleeps move time on at once. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0
  const slept: number[] = []
  return {
    slept,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms)
      now += ms
      return Promise.resolve()
    }
  }
}

/** GetEnvironment answers in turn, the last one repeated. */
function answering(...environments: MwaaEnvironment[]): MwaaApi & { looks: number } {
  const api = {
    looks: 0,
    getEnvironment: () => {
      const answer = environments[Math.min(api.looks, environments.length - 1)] as MwaaEnvironment
      api.looks += 1
      return Promise.resolve(answer)
    },
    updateEnvironment: () => Promise.reject(new Error('not used')),
    invokeRestApi: () => Promise.reject(new Error('not used')),
    destroy: () => undefined
  }
  return api
}

const env = (status: string, lastUpdate?: MwaaEnvironment['lastUpdate']): MwaaEnvironment => ({
  name: 'airflow',
  status,
  files: {},
  ...(lastUpdate !== undefined ? { lastUpdate } : {})
})

function watch(api: MwaaApi, clock: Clock, deadlineMs = 3_600_000): Watch & { lines: string[] } {
  const lines: string[] = []
  return {
    api,
    name: 'airflow',
    deadlineMs,
    pollIntervalMs: 20_000,
    log: (l) => lines.push(l),
    clock,
    lines
  }
}

describe('waitUntilReady', () => {
  it('waits out an update it did not start, logging changes and about once a minute', async () => {
    const clock = fakeClock()
    const api = answering(...Array.from({ length: 8 }, () => env('UPDATING')), env('AVAILABLE'))
    const w = watch(api, clock)
    const ready = await waitUntilReady(w)
    expect(ready.status).toBe('AVAILABLE')
    expect(api.looks).toBe(9)
    expect(clock.slept).toEqual(Array.from({ length: 8 }, () => 20_000))
    expect(w.lines).toEqual([
      'Waiting for airflow to finish its work in progress: UPDATING (0 ms)',
      'Waiting for airflow to finish its work in progress: still UPDATING after 1 min 0 s',
      'Waiting for airflow to finish its work in progress: still UPDATING after 2 min 0 s'
    ])
  })

  it('takes a failed environment as ready: an update may follow a rollback', async () => {
    const ready = await waitUntilReady(watch(answering(env('UPDATE_FAILED')), fakeClock()))
    expect(ready.status).toBe('UPDATE_FAILED')
  })

  it('stops at the deadline, saying the work goes on and nothing was updated', async () => {
    const clock = fakeClock()
    const promise = waitUntilReady(watch(answering(env('UPDATING')), clock, 50_000))
    await expect(promise).rejects.toThrow(WaitTimeout)
    await expect(promise).rejects.toThrow('nothing was updated, and that work goes on')
    expect(clock.slept).toEqual([20_000, 20_000])
  })

  it('does not wait for an environment that will not come back', async () => {
    await expect(waitUntilReady(watch(answering(env('DELETING')), fakeClock()))).rejects.toThrow(
      EnvironmentBroken
    )
  })
})

describe('followUpdate', () => {
  const before = new Date('2026-11-30T10:00:00Z')
  const ours = new Date('2026-11-30T10:00:01Z')

  it('follows the update to its success', async () => {
    const api = answering(
      env('AVAILABLE', { status: 'SUCCESS', createdAt: before }),
      env('UPDATING', { status: 'PENDING', createdAt: ours }),
      env('AVAILABLE', { status: 'SUCCESS', createdAt: ours })
    )
    const end = await followUpdate(watch(api, fakeClock()), before)
    expect(end.progress).toEqual({ state: 'succeeded' })
    expect(api.looks).toBe(3)
  })

  it('returns the failure with its reason after the rollback', async () => {
    const error = { code: 'PLUGINS_INSTALL', message: 'bad plugin' }
    const end = await followUpdate(
      watch(
        answering(
          env('UPDATING', { status: 'PENDING', createdAt: ours }),
          env('ROLLING_BACK', { status: 'FAILED', createdAt: ours, error }),
          env('UPDATE_FAILED', { status: 'FAILED', createdAt: ours, error })
        ),
        fakeClock()
      ),
      before
    )
    expect(end.progress).toEqual({
      state: 'failed',
      code: 'PLUGINS_INSTALL',
      message: 'bad plugin'
    })
    expect(end.environment.status).toBe('UPDATE_FAILED')
  })

  it('leaves the update running at the deadline, and says so', async () => {
    const promise = followUpdate(
      watch(
        answering(env('UPDATING', { status: 'PENDING', createdAt: ours })),
        fakeClock(),
        30_000
      ),
      before
    )
    await expect(promise).rejects.toThrow('the update was left running')
  })
})
