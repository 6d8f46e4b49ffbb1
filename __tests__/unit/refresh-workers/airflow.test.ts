import { describe, expect, it } from '@jest/globals'
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { mockClient } from 'aws-sdk-client-mock'
import {
  checkedFiles,
  dagFolderPath,
  epochMs,
  errorSummary,
  IMPORT_ERROR_LINE_LIMIT,
  importErrorLine,
  judgeParse,
  MESSAGE_LIMIT,
  readAirflowConfig,
  readAirflowCredentials,
  type ImportErrorRecord,
  type ParsedDag,
  type ParseOutcome
} from '../../../src/refresh-workers/airflow.js'
import { ConfigError } from '../../../src/refresh-workers/config.js'

const configured = {
  AIRFLOW_API_URL: 'http://airflow.internal:8080',
  AIRFLOW_CREDENTIALS_SECRET: 'airflow/api-user'
}

function problem(env: Record<string, string>): string {
  try {
    readAirflowConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('readAirflowConfig accepted the environment')
}

describe('readAirflowConfig', () => {
  it('is undefined when nothing is set', () => {
    expect(readAirflowConfig({})).toBeUndefined()
    expect(readAirflowConfig({ AIRFLOW_API_URL: ' ', AIRFLOW_CREDENTIALS_SECRET: '' })).toBe(
      undefined
    )
  })

  it('reads the settings with the default timeout', () => {
    expect(readAirflowConfig(configured)).toEqual({
      apiUrl: 'http://airflow.internal:8080',
      credentialsSecret: 'airflow/api-user',
      confirmTimeoutMs: 300_000
    })
  })

  it('keeps a path the webserver is served under, without the trailing slash', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airflow/api-AbCdEf'
    expect(
      readAirflowConfig({
        AIRFLOW_API_URL: 'https://Example.com/airflow/',
        AIRFLOW_CREDENTIALS_SECRET: arn,
        AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '840'
      })
    ).toEqual({
      apiUrl: 'https://example.com/airflow',
      credentialsSecret: arn,
      confirmTimeoutMs: 840_000
    })
  })

  it.each([
    [
      { AIRFLOW_CREDENTIALS_SECRET: '' },
      'AIRFLOW_CREDENTIALS_SECRET: is required when AIRFLOW_API_URL is set'
    ],
    [
      { AIRFLOW_API_URL: '' },
      'AIRFLOW_API_URL: is required when AIRFLOW_CREDENTIALS_SECRET is set'
    ],
    [{ AIRFLOW_API_URL: 'airflow.internal:8080' }, 'AIRFLOW_API_URL: must be an http or https URL'],
    [{ AIRFLOW_API_URL: 'not a url' }, "AIRFLOW_API_URL: 'not a url' is not a URL"],
    [{ AIRFLOW_API_URL: 'ftp://airflow.internal' }, 'must be an http or https URL'],
    [{ AIRFLOW_API_URL: 'http://airflow/?x=1' }, 'without a query or fragment'],
    [{ AIRFLOW_API_URL: 'http://airflow/#top' }, 'without a query or fragment'],
    [{ AIRFLOW_API_URL: 'http://airflow/api/v1' }, 'without /api/v1 or /api/v2'],
    [{ AIRFLOW_API_URL: 'http://airflow/x/api/v2/' }, 'without /api/v1 or /api/v2'],
    [
      { AIRFLOW_API_URL: 'http://air\nflow' },
      "'http://air\\nflow' (shown escaped) holds a control"
    ],
    [{ AIRFLOW_CREDENTIALS_SECRET: 'a secret' }, "'a secret' is not a Secrets Manager secret name"],
    [{ AIRFLOW_CREDENTIALS_SECRET: 'arn:aws:s3:::bucket' }, 'is not a Secrets Manager secret'],
    [{ AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '9' }, 'seconds from 10 to 840'],
    [{ AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '841' }, 'seconds from 10 to 840'],
    [{ AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '60s' }, "seconds from 10 to 840, got '60s'"]
  ])('refuses %j', (change, message) => {
    const text = problem({ ...configured, ...change })
    expect(text).toContain(message)
    expect(text).toMatch(/in the function's environment \(the template sets it\)$/)
  })

  it('refuses a timeout without the API settings', () => {
    expect(problem({ AIRFLOW_CONFIRM_TIMEOUT_SECONDS: '60' })).toContain(
      'AIRFLOW_CONFIRM_TIMEOUT_SECONDS: is only used with AIRFLOW_API_URL'
    )
  })

  it('never quotes a URL that holds a password', () => {
    const text = problem({ ...configured, AIRFLOW_API_URL: 'https://admin:hunter2@airflow/' })
    expect(text).toContain('must not hold a user name or password')
    expect(text).not.toContain('hunter2')
  })
})

describe('readAirflowCredentials', () => {
  const secrets = mockClient(SecretsManagerClient)
  const read = () => readAirflowCredentials('airflow/api-user', new SecretsManagerClient({}))

  async function failure(): Promise<string> {
    try {
      await read()
    } catch (error) {
      return (error as Error).message
    }
    throw new Error('the credentials were read')
  }

  it('reads the username and password', async () => {
    secrets.reset()
    secrets
      .on(GetSecretValueCommand, { SecretId: 'airflow/api-user' })
      .resolves({ SecretString: '{"username":"deployer","password":"s3cr3t","note":"x"}' })
    await expect(read()).resolves.toEqual({ username: 'deployer', password: 's3cr3t' })
  })

  it.each([
    ['{"username":"deployer","password":"s3cr3t"', 'is not JSON'],
    ['"s3cr3t"', 'has no "username" string'],
    ['{"username":"deployer","pass":"s3cr3t"}', 'has no "password" string'],
    ['{"username":"","password":"s3cr3t"}', 'has no "username" string']
  ])('refuses the secret text %j without quoting it', async (secretString, message) => {
    secrets.reset()
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString })
    const text = await failure()
    expect(text).toContain(
      `The secret airflow/api-user named by AIRFLOW_CREDENTIALS_SECRET ${message}`
    )
    expect(text).not.toContain('s3cr3t')
  })

  it('names what the role lacks when Secrets Manager denies the read', async () => {
    secrets.reset()
    secrets
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }))
    expect(await failure()).toContain('secretsmanager:GetSecretValue')
  })

  it('says when the secret holds binary only', async () => {
    secrets.reset()
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) })
    expect(await failure()).toContain('has no SecretString')
  })
})

describe('checkedFiles', () => {
  it('keeps the Python files, sorted, once each', () => {
    expect(checkedFiles(['b.py', 'sql/q.sql', 'a/x.py', 'b.py', 'pack.zip', 'notes.pyc'])).toEqual([
      'a/x.py',
      'b.py'
    ])
  })
})

describe('dagFolderPath', () => {
  it.each([
    ['/opt/airflow/dags/etl/load.py', 'etl/load.py'],
    ['/opt/airflow/dags2/load.py', undefined],
    ['/opt/airflow/load.py', undefined],
    ['etl/load.py', 'etl/load.py'],
    ['./etl/load.py', 'etl/load.py']
  ])('reads %j in /opt/airflow/dags as %j', (location, path) => {
    expect(dagFolderPath(location, '/opt/airflow/dags')).toBe(path)
    expect(dagFolderPath(location, '/opt/airflow/dags/')).toBe(path)
  })
})

describe('epochMs', () => {
  it.each([
    ['2026-11-30T12:00:00.123456+00:00', Date.UTC(2026, 10, 30, 12, 0, 0, 123)],
    ['2026-11-30T13:00:00+01:00', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T12:00:00Z', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T12:00:00', Date.UTC(2026, 10, 30, 12)],
    ['yesterday', undefined],
    [null, undefined]
  ])('reads %j', (text, ms) => {
    expect(epochMs(text)).toBe(ms)
  })
})

describe('errorSummary', () => {
  it('shows the exception after a traceback', () => {
    const trace = [
      'Traceback (most recent call last):',
      '  File "<frozen importlib._bootstrap>", line 488, in _call_with_frames_removed',
      '  File "/opt/airflow/dags/etl.py", line 3, in <module>',
      '    import pandas_extra',
      "ModuleNotFoundError: No module named 'pandas_extra'",
      ''
    ].join('\n')
    expect(errorSummary(trace)).toBe("ModuleNotFoundError: No module named 'pandas_extra'")
  })

  it('skips the source line and markers of a syntax error', () => {
    const trace =
      '  File "/opt/airflow/dags/etl.py", line 4\r\n    def broken(:\r\n               ^\r\nSyntaxError: invalid syntax\r\n'
    expect(errorSummary(trace)).toBe('SyntaxError: invalid syntax')
  })

  it('joins the first lines of a message without a traceback', () => {
    expect(errorSummary('Cycle detected in DAG: etl\nTask a\nTask b\nTask c')).toBe(
      'Cycle detected in DAG: etl | Task a | Task b'
    )
  })

  it('escapes and caps what Airflow sent', () => {
    expect(errorSummary('::error::boom\u0007')).toBe(':\\x3aerror:\\x3aboom\\x07')
    const long = errorSummary(`ValueError: ${'x'.repeat(1000)}`)
    expect([...long]).toHaveLength(MESSAGE_LIMIT + 1)
    expect(long.endsWith('…')).toBe(true)
    expect(errorSummary('\n \n')).toBe('(Airflow gave no error text)')
  })
})

describe('judgeParse', () => {
  const folder = '/opt/airflow/dags'
  const sinceMs = Date.UTC(2026, 10, 30, 12)
  const before = sinceMs - 60_000
  const after = sinceMs + 5_000
  const dag = (fileloc: string, lastParsedMs: number | undefined): ParsedDag => ({
    locations: [fileloc],
    lastParsedMs
  })
  const failure = (
    filename: string,
    timestampMs: number | undefined,
    exception = 'ImportError: boom'
  ): ImportErrorRecord => ({
    filename,
    timestampMs,
    stackTrace: `Traceback (most recent call last):\n  File "${filename}", line 1, in <module>\n    x\n${exception}\n`
  })
  const judge = (
    checked: string[],
    dags: ParsedDag[],
    importErrors: ImportErrorRecord[] = []
  ): ParseOutcome => judgeParse({ checked, dags, importErrors, dagFolder: folder, sinceMs })

  it('confirms the files of DAGs parsed since, by absolute or bundle-relative location', () => {
    expect(
      judge(
        ['a.py', 'etl/b.py', 'c.py'],
        [dag(`${folder}/a.py`, after), dag('etl/b.py', sinceMs), dag(`${folder}/c.py`, before)]
      )
    ).toEqual({
      confirmed: ['a.py', 'etl/b.py'],
      unconfirmed: ['c.py'],
      importErrors: [],
      preexisting: []
    })
  })

  it('confirms a file by any of its DAGs, and not by a DAG of the same name elsewhere', () => {
    const outcome = judge(
      ['a.py', 'b.py'],
      [
        dag(`${folder}/a.py`, before),
        dag(`${folder}/a.py`, after),
        dag(`/usr/lib/python3/site-packages/example_dags/b.py`, after),
        { locations: [], lastParsedMs: after },
        dag(`${folder}/b.py`, undefined)
      ]
    )
    expect(outcome.confirmed).toEqual(['a.py'])
    expect(outcome.unconfirmed).toEqual(['b.py'])
  })

  it('blames the deploy for a fresh import error of a changed file', () => {
    const outcome = judge(
      ['a.py', 'b.py'],
      [dag(`${folder}/a.py`, before), dag(`${folder}/b.py`, after)],
      [failure('a.py', after, "ModuleNotFoundError: No module named 'x'")]
    )
    expect(outcome).toEqual({
      confirmed: ['a.py', 'b.py'],
      unconfirmed: [],
      importErrors: [{ path: 'a.py', message: "ModuleNotFoundError: No module named 'x'" }],
      preexisting: []
    })
  })

  it('does not blame the deploy for errors of files it did not change', () => {
    const outcome = judge(
      ['a.py'],
      [dag(`${folder}/a.py`, after)],
      [
        failure(`${folder}/old.py`, before),
        failure(`${folder}/other.py`, after),
        failure('/elsewhere/x.py', after)
      ]
    )
    expect(outcome.importErrors).toEqual([])
    expect(outcome.preexisting.map((problem) => problem.path)).toEqual([
      '/elsewhere/x.py',
      'old.py',
      'other.py'
    ])
  })

  it('keeps an older error of a changed file aside until the file is parsed again', () => {
    const stale = [failure(`${folder}/a.py`, before)]
    const waiting = judge(['a.py'], [dag(`${folder}/a.py`, before)], stale)
    expect(waiting.unconfirmed).toEqual(['a.py'])
    expect(waiting.importErrors).toEqual([])
    expect(waiting.preexisting).toEqual([{ path: 'a.py', message: 'ImportError: boom' }])
    const fixed = judge(['a.py'], [dag(`${folder}/a.py`, after)], stale)
    expect(fixed).toEqual({
      confirmed: ['a.py'],
      unconfirmed: [],
      importErrors: [],
      preexisting: []
    })
  })

  it('confirms a new file that only ever failed', () => {
    const outcome = judge(['new.py'], [], [failure('new.py', after), failure('new.py', after)])
    expect(outcome.confirmed).toEqual(['new.py'])
    expect(outcome.importErrors).toHaveLength(1)
  })

  it('escapes file names from Airflow', () => {
    const outcome = judge([], [], [failure(`${folder}/x\n::warning::y.py`, before)])
    expect(outcome.preexisting[0]?.path).toBe('x\\n:\\x3awarning:\\x3ay.py')
  })
})

describe('importErrorLine', () => {
  const outcome = (importErrors: ParseOutcome['importErrors']): ParseOutcome => ({
    confirmed: [],
    unconfirmed: [],
    importErrors,
    preexisting: [{ path: 'old.py', message: 'ImportError: old' }]
  })

  it('is undefined without failures of changed files', () => {
    expect(importErrorLine(outcome([]))).toBeUndefined()
  })

  it('names each file and its error', () => {
    expect(
      importErrorLine(
        outcome([
          { path: 'a.py', message: "ModuleNotFoundError: No module named 'x'" },
          { path: 'etl/b.py', message: 'SyntaxError: invalid syntax' }
        ])
      )
    ).toBe(
      "Airflow failed to import 2 changed DAG files: a.py (ModuleNotFoundError: No module named 'x'); etl/b.py (SyntaxError: invalid syntax)"
    )
  })

  it('counts the failures that do not fit in the limit', () => {
    const many = Array.from({ length: 40 }, (_, index) => ({
      path: `dag_${String(index).padStart(2, '0')}.py`,
      message: `ImportError: ${'x'.repeat(40)}`
    }))
    const line = importErrorLine(outcome(many)) as string
    expect(line.length).toBeLessThanOrEqual(IMPORT_ERROR_LINE_LIMIT)
    expect(line).toMatch(/^Airflow failed to import 40 changed DAG files: dag_00\.py/)
    const shown = line.match(/dag_\d\d\.py/g)?.length ?? 0
    expect(line.endsWith(`; and ${40 - shown} more`)).toBe(true)
  })

  it('stays within the limit with the longest path and message', () => {
    const line = importErrorLine(
      outcome([
        { path: `${'p'.repeat(200)}…`, message: `${'m'.repeat(300)}…` },
        { path: `${'q'.repeat(200)}…`, message: `${'n'.repeat(300)}…` }
      ])
    ) as string
    expect(line.length).toBeLessThanOrEqual(IMPORT_ERROR_LINE_LIMIT)
    expect(line).toContain('p'.repeat(200))
    expect(line.endsWith('; and 1 more')).toBe(true)
  })
})
