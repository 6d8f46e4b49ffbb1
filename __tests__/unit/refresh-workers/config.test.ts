import { describe, expect, it } from '@jest/globals'
import { ConfigError, readConfig } from '../../../src/refresh-workers/config.js'

const ssm = {
  REFRESH_MODE: 'ssm',
  DAG_BUCKET: 'airflow-dags',
  DAG_PREFIX: 'dags',
  WORKER_GROUPS: 'airflow-workers',
  WORKER_DAG_FOLDER: '/opt/airflow/dags',
  SSM_DOCUMENT_NAME: 'AirflowRefreshWorkers'
}

const efs = {
  REFRESH_MODE: 'efs',
  DAG_BUCKET: 'airflow-dags',
  EFS_MOUNT_PATH: '/mnt/dags'
}

function problem(env: Record<string, string>): string {
  try {
    readConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('readConfig accepted the environment')
}

describe('readConfig', () => {
  it('reads an ssm configuration with its defaults', () => {
    expect(readConfig(ssm)).toEqual({
      mode: 'ssm',
      bucket: 'airflow-dags',
      prefix: 'dags',
      deadlineMarginMs: 30_000,
      workerGroups: ['airflow-workers'],
      workerDagFolder: '/opt/airflow/dags',
      ssmDocumentName: 'AirflowRefreshWorkers',
      tolerateOffline: false
    })
  })

  it('reads every optional ssm setting', () => {
    const config = readConfig({
      ...ssm,
      DAG_PREFIX: '/airflow/dags/',
      WORKER_GROUPS: ' workers-a ,workers-b\nworkers-a\n\n',
      WORKER_DAG_FOLDER: '/opt/airflow/dags/',
      WORKER_START_COMMAND: 'systemctl start airflow-worker\ndocker ps',
      TOLERATE_OFFLINE_WORKERS: 'True',
      DEADLINE_MARGIN_SECONDS: '45'
    })
    expect(config).toMatchObject({
      prefix: 'airflow/dags',
      workerGroups: ['workers-a', 'workers-b'],
      workerDagFolder: '/opt/airflow/dags',
      workerStartCommand: 'systemctl start airflow-worker\ndocker ps',
      tolerateOffline: true,
      deadlineMarginMs: 45_000
    })
  })

  it('reads an efs configuration', () => {
    expect(readConfig({ ...efs, DAG_PREFIX: '/' })).toEqual({
      mode: 'efs',
      bucket: 'airflow-dags',
      prefix: '',
      deadlineMarginMs: 30_000,
      efsMountPath: '/mnt/dags'
    })
  })

  it.each([
    ['', 'dags'],
    ['  ', 'dags'],
    ['/', ''],
    ['dags/', 'dags'],
    ['/team/dags', 'team/dags']
  ])('normalises DAG_PREFIX %j to %j', (given, prefix) => {
    expect(readConfig({ ...efs, DAG_PREFIX: given }).prefix).toBe(prefix)
  })

  it.each([
    [
      { REFRESH_MODE: '' },
      "REFRESH_MODE: is required and is not set; set REFRESH_MODE in the function's environment (the template sets it)"
    ],
    [{ REFRESH_MODE: 'SSM' }, "REFRESH_MODE: must be ssm or efs, got 'SSM'"],
    [{ DAG_BUCKET: '' }, 'DAG_BUCKET: is required'],
    [{ DAG_BUCKET: 's3://airflow-dags' }, 'DAG_BUCKET: give the bucket name only'],
    [{ DAG_BUCKET: 'a/b' }, "DAG_BUCKET: 'a/b' is not a bucket name"],
    [{ DAG_PREFIX: 'dags/../etc' }, "DAG_PREFIX: 'dags/../etc' has an empty, '.' or '..' segment"],
    [{ DAG_PREFIX: 'dags\nx' }, "DAG_PREFIX: 'dags\\nx' (shown escaped) holds a control character"],
    [{ WORKER_GROUPS: '' }, 'WORKER_GROUPS: is required'],
    [{ WORKER_GROUPS: ' , \n' }, 'WORKER_GROUPS: names no Auto Scaling group'],
    [{ WORKER_GROUPS: 'a\tb' }, "WORKER_GROUPS: 'a\\tb' is not an Auto Scaling group name"],
    [{ WORKER_GROUPS: 'x'.repeat(256) }, 'is not an Auto Scaling group name'],
    [{ WORKER_DAG_FOLDER: 'opt/dags' }, 'WORKER_DAG_FOLDER: must be an absolute folder path'],
    [{ WORKER_DAG_FOLDER: '/' }, 'WORKER_DAG_FOLDER: must be an absolute folder path other than /'],
    [{ WORKER_DAG_FOLDER: '/opt/../etc' }, 'WORKER_DAG_FOLDER: must be an absolute folder path'],
    [
      { WORKER_DAG_FOLDER: '/opt/\u0000' },
      "WORKER_DAG_FOLDER: '/opt/\\x00' (shown escaped) holds a control character"
    ],
    [{ WORKER_START_COMMAND: 'start\u001b[2J' }, 'WORKER_START_COMMAND: holds a control character'],
    [{ SSM_DOCUMENT_NAME: '' }, 'SSM_DOCUMENT_NAME: is required'],
    [
      { SSM_DOCUMENT_NAME: 'bad name' },
      "SSM_DOCUMENT_NAME: 'bad name' is not an SSM document name"
    ],
    [
      { TOLERATE_OFFLINE_WORKERS: 'yes' },
      "TOLERATE_OFFLINE_WORKERS: must be true or false, got 'yes'"
    ],
    [{ TOLERATE_OFFLINE_WORKERS: '1' }, 'TOLERATE_OFFLINE_WORKERS: must be true or false'],
    [
      { DEADLINE_MARGIN_SECONDS: '4' },
      'DEADLINE_MARGIN_SECONDS: must be a whole number of seconds from 5 to 300'
    ],
    [{ DEADLINE_MARGIN_SECONDS: '301' }, 'from 5 to 300'],
    [{ DEADLINE_MARGIN_SECONDS: '1.5' }, 'from 5 to 300'],
    [{ EFS_MOUNT_PATH: '/mnt/dags' }, 'EFS_MOUNT_PATH: is for REFRESH_MODE=efs only']
  ])('refuses the ssm environment with %j', (change, message) => {
    const text = problem({ ...ssm, ...change })
    expect(text).toContain(message)
    expect(text).toMatch(/in the function's environment \(the template sets it\)$/)
  })

  it('accepts a document ARN', () => {
    const arn = 'arn:aws:ssm:eu-west-1:123456789012:document/AirflowRefreshWorkers'
    expect(readConfig({ ...ssm, SSM_DOCUMENT_NAME: arn })).toMatchObject({ ssmDocumentName: arn })
  })

  it.each([
    [{ EFS_MOUNT_PATH: '' }, 'EFS_MOUNT_PATH: is required'],
    [{ EFS_MOUNT_PATH: 'mnt' }, 'EFS_MOUNT_PATH: must be an absolute folder path'],
    [{ WORKER_GROUPS: 'workers' }, 'WORKER_GROUPS: is for REFRESH_MODE=ssm only'],
    [{ SSM_DOCUMENT_NAME: 'Doc' }, 'SSM_DOCUMENT_NAME: is for REFRESH_MODE=ssm only'],
    [{ TOLERATE_OFFLINE_WORKERS: 'true' }, 'TOLERATE_OFFLINE_WORKERS: is for REFRESH_MODE=ssm only']
  ])('refuses the efs environment with %j', (change, message) => {
    expect(problem({ ...efs, ...change })).toContain(message)
  })
})
