import { describe, expect, it } from '@jest/globals'
import {
  parseEnvLine,
  parseGroupIds,
  parseTarget,
  parseUpload
} from '../../../src/ephemeral-sg-ssh/targets.js'

describe('parseTarget', () => {
  it.each([
    ['web-1.internal', { host: 'web-1.internal', port: 22, label: 'web-1.internal' }],
    ['deploy@web-1', { user: 'deploy', host: 'web-1', port: 22, label: 'deploy@web-1' }],
    ['web-1:2222', { host: 'web-1', port: 2222, label: 'web-1:2222' }],
    [
      'ubuntu@10.0.0.5:2200',
      { user: 'ubuntu', host: '10.0.0.5', port: 2200, label: 'ubuntu@10.0.0.5:2200' }
    ],
    ['[2001:db8::1]:2022', { host: '2001:db8::1', port: 2022, label: '[2001:db8::1]:2022' }],
    ['[2001:db8::1]', { host: '2001:db8::1', port: 22, label: '[2001:db8::1]' }],
    ['2001:db8::1', { host: '2001:db8::1', port: 22, label: '2001:db8::1' }],
    [
      'ec2-user@fe80::1',
      { user: 'ec2-user', host: 'fe80::1', port: 22, label: 'ec2-user@fe80::1' }
    ],
    ['  app.example.com  ', { host: 'app.example.com', port: 22, label: 'app.example.com' }]
  ])('parses %j', (text, expected) => {
    expect(parseTarget(text, 22)).toEqual(expected)
  })

  it('uses the default port only when none is written', () => {
    expect(parseTarget('web-1', 2200)).toMatchObject({ port: 2200 })
    expect(parseTarget('2001:db8::1', 2200)).toMatchObject({ host: '2001:db8::1', port: 2200 })
    expect(parseTarget('web-1:22', 2200)).toMatchObject({ port: 22 })
    expect(parseTarget('[2001:db8::1]:22', 2200)).toMatchObject({ port: 22 })
  })

  it('has no user key when no user is written', () => {
    expect(parseTarget('web-1', 22)).not.toHaveProperty('user')
  })

  it.each([
    ['1bad@web-1', "'1bad' is not a user name"],
    ['de ploy@web-1', "'de ploy' is not a user name"],
    ['@web-1', "'' is not a user name"],
    ['web_1', "'web_1' is not a host name or address"],
    ['-web', "'-web' is not a host name or address"],
    ['web..internal', "'web..internal' is not a host name or address"],
    ['', "'' is not a host name or address"],
    ['deploy@', "'' is not a host name or address"],
    ['[10.0.0.5]:22', "'10.0.0.5' in brackets is not an IPv6 address"],
    ['web-1:ssh', "'ssh' is not a port"],
    ['web-1:', "'' is not a port"],
    ['web-1:-1', "'-1' is not a port"],
    ['web-1:123456', "'123456' is not a port"],
    ['web-1:0', 'port 0 is out of range (1-65535)'],
    ['web-1:65536', 'port 65536 is out of range (1-65535)'],
    ['[2001:db8::1]:70000', 'port 70000 is out of range (1-65535)']
  ])('rejects %j', (text, error) => {
    expect(parseTarget(text, 22)).toEqual({ error })
  })

  it('rejects a default port out of range', () => {
    expect(parseTarget('web-1', 0)).toEqual({ error: 'port 0 is out of range (1-65535)' })
  })

  it('accepts the highest port and a 32-character user', () => {
    const user = 'u'.repeat(32)
    expect(parseTarget(`${user}@web-1:65535`, 22)).toMatchObject({ user, port: 65535 })
    expect(parseTarget(`${user}x@web-1`, 22)).toHaveProperty('error')
  })
})

describe('parseUpload', () => {
  it.each([
    ['dist:/var/www/app', { local: 'dist', remote: '/var/www/app' }],
    [' build/out : /srv/app ', { local: 'build/out', remote: '/srv/app' }],
    ['site:/srv/a:b', { local: 'site', remote: '/srv/a:b' }],
    ['dist:relative/dir', { local: 'dist', remote: 'relative/dir' }]
  ])('parses %j', (text, expected) => {
    expect(parseUpload(text)).toEqual(expected)
  })

  it.each([
    ['dist', "'dist' is not local:remote (for example dist:/var/www/app)"],
    [':/var/www', "':/var/www' is not local:remote (for example dist:/var/www/app)"],
    ['dist:', "'dist:' is not local:remote (for example dist:/var/www/app)"],
    ['  :/srv', "'  :/srv' is not local:remote"],
    ['dist:  ', "'dist:  ' is not local:remote"],
    ['dist:/srv/\0x', 'paths cannot contain NUL'],
    ['di\0st:/srv', 'paths cannot contain NUL']
  ])('rejects %j', (text, error) => {
    expect(parseUpload(text)).toEqual({ error: expect.stringContaining(error) })
  })
})

describe('parseEnvLine', () => {
  it.each([
    ['STAGE=prod', { name: 'STAGE', value: 'prod' }],
    ['URL=https://x/?a=1&b=2', { name: 'URL', value: 'https://x/?a=1&b=2' }],
    ['EMPTY=', { name: 'EMPTY', value: '' }],
    ['_private2=x', { name: '_private2', value: 'x' }],
    [`QUOTED="a b" 'c'`, { name: 'QUOTED', value: `"a b" 'c'` }],
    ['SPACES=  padded value  ', { name: 'SPACES', value: '  padded value  ' }],
    ['DOLLAR=$HOME `id`', { name: 'DOLLAR', value: '$HOME `id`' }]
  ])('takes %j literally', (text, expected) => {
    expect(parseEnvLine(text)).toEqual(expected)
  })

  it.each([
    ['NOVALUE', 'NOVALUE'],
    ['1ST=x', '1ST'],
    ['MY-VAR=x', 'MY-VAR'],
    ['MY VAR=x', 'MY VAR'],
    ['=x', ''],
    ['A.B=x', 'A.B']
  ])('rejects %j', (text, name) => {
    expect(parseEnvLine(text)).toEqual({
      error: `'${name}' is not NAME=value with a shell variable name`
    })
  })
})

describe('parseGroupIds', () => {
  it('splits on commas, newlines and spaces, and drops duplicates in order', () => {
    expect(
      parseGroupIds('sg-0123456789abcdef0, sg-11111111\nsg-0123456789abcdef0\n\n  sg-22222222 ')
    ).toEqual({ ids: ['sg-0123456789abcdef0', 'sg-11111111', 'sg-22222222'] })
  })

  it('accepts a single id', () => {
    expect(parseGroupIds('sg-abcdef01')).toEqual({ ids: ['sg-abcdef01'] })
  })

  it('returns no ids for blank text', () => {
    expect(parseGroupIds(' ,\n ')).toEqual({ ids: [] })
  })

  it.each([
    'sg-123',
    'sg-0123456789ABCDEF0',
    'sg_01234567',
    'vpc-01234567',
    'sg-0123456789abcdef01'
  ])('rejects %j', (bad) => {
    expect(parseGroupIds(`sg-11111111,${bad}`)).toEqual({
      error: `'${bad}' is not a security group id (sg-0123456789abcdef0)`
    })
  })
})
