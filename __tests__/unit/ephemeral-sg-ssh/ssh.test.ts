import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { EventEmitter } from 'node:events'
import type { Client as SshClient } from 'ssh2'
import type { HostKeyPin } from '../../../src/ephemeral-sg-ssh/host-keys.js'
import {
  HostKeyMismatch,
  OtherKeyTypeShown,
  connectVerified,
  runCommand,
  type Endpoint,
  type HandshakeAttempt
} from '../../../src/ephemeral-sg-ssh/ssh.js'

// connectVerified's rounds against a scripted server and a clock that moves only when a round
// "takes" time: what each round is given, and when the rounds stop.

let clock = 0
beforeEach(() => {
  clock = 1_000_000
  jest.spyOn(Date, 'now').mockImplementation(() => clock)
})
afterEach(() => {
  jest.restoreAllMocks()
})

const barePin: HostKeyPin = {
  patterns: [],
  fingerprint: 'SHA256:pinnedButNotPresented',
  revoked: false,
  source: 'host-fingerprints line 1'
}
const endpoint: Endpoint = {
  target: { host: '10.0.1.10', port: 22, label: 'web-1' },
  username: 'deploy',
  trust: { pins: [barePin] }
}
const credentials = { privateKey: 'not read: no real handshake happens here' }
const connected = { connected: true } as unknown as SshClient

interface Round {
  /** How long the round takes on the clock. */
  takesMs: number
  /** The key type the server presents, matching no pin; absent: the handshake succeeds. */
  presents?: string
  /** Or the error the round ends with. */
  fails?: Error
}

/** A server answering each round as scripted; records what each round was given. */
function scripted(rounds: Round[]) {
  const given: { timeoutMs: number; shownTypes: string[] }[] = []
  const attempt: HandshakeAttempt = async (timeoutMs, shownTypes) => {
    given.push({ timeoutMs, shownTypes: [...shownTypes] })
    const round = rounds[given.length - 1]
    if (round === undefined) throw new Error(`test script: no round ${given.length}`)
    clock += round.takesMs
    if (round.fails) throw round.fails
    if (round.presents) {
      throw new OtherKeyTypeShown(round.presents, `${round.presents} key SHA256:${round.presents}`)
    }
    return connected
  }
  return { attempt, given }
}

async function outcome(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => value,
    (error: unknown) => error
  )
}

describe('connectVerified with a pin that names no key type', () => {
  it('asks for each other key type, every round given only the time left', async () => {
    const { attempt, given } = scripted([
      { takesMs: 2000, presents: 'ssh-ed25519' },
      { takesMs: 2000, presents: 'ecdsa-sha2-nistp256' },
      { takesMs: 500 }
    ])
    const onRetry = jest.fn<(message: string) => void>()
    const client = await connectVerified(endpoint, credentials, clock + 5000, { attempt, onRetry })
    expect(client).toBe(connected)
    expect(given).toEqual([
      { timeoutMs: 5000, shownTypes: [] },
      { timeoutMs: 3000, shownTypes: ['ssh-ed25519'] },
      { timeoutMs: 1000, shownTypes: ['ssh-ed25519', 'ecdsa-sha2-nistp256'] }
    ])
    expect(onRetry.mock.calls.map(([message]) => message)).toEqual([
      'web-1: presented a ssh-ed25519 key SHA256:ssh-ed25519 that no pin matches; asking for another of its host key types',
      'web-1: presented a ecdsa-sha2-nistp256 key SHA256:ecdsa-sha2-nistp256 that no pin matches; asking for another of its host key types'
    ])
  })

  it('gives no round more than 20 s, however far the deadline is', async () => {
    const { attempt, given } = scripted([
      { takesMs: 100, presents: 'ssh-ed25519' },
      { takesMs: 100 }
    ])
    await connectVerified(endpoint, credentials, clock + 120_000, { attempt })
    expect(given.map(({ timeoutMs }) => timeoutMs)).toEqual([20_000, 20_000])
  })

  it('starts no round once the deadline has passed, and says why it stopped', async () => {
    const { attempt, given } = scripted([
      { takesMs: 3000, presents: 'ssh-ed25519' },
      { takesMs: 3000, presents: 'ssh-rsa' },
      { takesMs: 100 }
    ])
    const error = await outcome(connectVerified(endpoint, credentials, clock + 5000, { attempt }))
    expect(given.map(({ timeoutMs }) => timeoutMs)).toEqual([5000, 2000])
    expect(error).toBeInstanceOf(Error)
    expect(error).not.toBeInstanceOf(HostKeyMismatch)
    expect((error as Error).message).toBe(
      'host key of web-1 not verified within connect-timeout: it presented a ssh-ed25519 key SHA256:ssh-ed25519, a ssh-rsa key SHA256:ssh-rsa, none matching the 1 pinned key(s) for it, and no time was left to ask for another of its host key types'
    )
  })

  it('names the deadline when a round asking for another type times out at it', async () => {
    const handshakeTimeout = Object.assign(new Error('Timed out while waiting for handshake'), {
      level: 'client-timeout'
    })
    const { attempt, given } = scripted([
      { takesMs: 1000, presents: 'ssh-ed25519' },
      { takesMs: 4000, fails: handshakeTimeout }
    ])
    const error = await outcome(connectVerified(endpoint, credentials, clock + 5000, { attempt }))
    expect(given.map(({ timeoutMs }) => timeoutMs)).toEqual([5000, 4000])
    expect((error as Error).message).toMatch(
      /^host key of web-1 not verified within connect-timeout: it presented a ssh-ed25519 key SHA256:ssh-ed25519, none matching/
    )
  })

  it('passes a first round that times out unchanged, for the caller to retry', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.1.10:22'), {
      code: 'ECONNREFUSED'
    })
    const { attempt } = scripted([{ takesMs: 5000, fails: refused }])
    await expect(connectVerified(endpoint, credentials, clock + 5000, { attempt })).rejects.toBe(
      refused
    )
  })

  it('tries nothing when the deadline has already passed', async () => {
    const { attempt, given } = scripted([{ takesMs: 100 }])
    await expect(connectVerified(endpoint, credentials, clock, { attempt })).rejects.toThrow(
      'connect-timeout passed before a connection to web-1 could be tried'
    )
    expect(given).toEqual([])
  })

  it('a key of a type presented again is a mismatch, not another round', async () => {
    const { attempt, given } = scripted([
      { takesMs: 100, presents: 'ssh-ed25519' },
      { takesMs: 100, presents: 'ssh-ed25519' },
      { takesMs: 100 }
    ])
    const error = await outcome(connectVerified(endpoint, credentials, clock + 5000, { attempt }))
    expect(error).toBeInstanceOf(HostKeyMismatch)
    expect(given).toHaveLength(2)
  })
})

describe('runCommand', () => {
  /** A channel that answers with an exit status and then closes, as sshd does. */
  function scriptedClient(events: (channel: EventEmitter) => void): SshClient {
    return {
      exec(_command: string, callback: (error: Error | undefined, channel: unknown) => void) {
        const channel = Object.assign(new EventEmitter(), {
          stderr: new EventEmitter(),
          end: () => events(channel),
          close: () => undefined,
          signal: () => undefined
        })
        callback(undefined, channel)
      }
    } as unknown as SshClient
  }

  it('leaves no timer behind once the channel closed after the exit status', async () => {
    jest.useFakeTimers()
    try {
      const client = scriptedClient((channel) => {
        channel.emit('exit', 0)
        channel.emit('close')
      })
      const result = await runCommand(client, 'true', '', () => undefined, 60_000)
      expect(result).toEqual({ exitCode: 0, timedOut: false, stderrTail: '' })
      // A timer left pending would hold the step's process open after its work is done.
      expect(jest.getTimerCount()).toBe(0)
    } finally {
      jest.useRealTimers()
    }
  })

  it('still finishes on the exit status when the channel stays open', async () => {
    jest.useFakeTimers()
    try {
      const client = scriptedClient((channel) => channel.emit('exit', 3))
      // The scripted channel runs nothing: the command only names what leaves a channel open.
      const finished = runCommand(client, 'start-daemon &', '', () => undefined, 60_000)
      await jest.advanceTimersByTimeAsync(250)
      expect(await finished).toEqual({ exitCode: 3, timedOut: false, stderrTail: '' })
      expect(jest.getTimerCount()).toBe(0)
    } finally {
      jest.useRealTimers()
    }
  })
})
