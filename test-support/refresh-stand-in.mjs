// The AWS side of the worker refresh on this machine, in front of moto_server. moto answers S3,
// Auto Scaling and Lambda's configuration; this answers what moto cannot do:
// - Lambda Invoke of the refresh function runs the bundled function (dist/refresh-workers)
//   in-process, with its calls sent back through this endpoint;
// - SSM SendCommand, GetCommandInvocation and DescribeInstanceInformation run the stack's sync
//   document (infra/refresh-workers.yaml) on local folders, one folder standing in for each
//   instance;
// - Auto Scaling's RecordLifecycleActionHeartbeat and CompleteLifecycleAction are recorded.
// Everything else is forwarded to moto untouched.
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand
} from '@aws-sdk/client-auto-scaling'
import { CreateLaunchTemplateCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2'
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadTemplate, resolveTemplate } from './cloudformation.mjs'
import { startProxy } from './proxy.mjs'

const root = resolve(import.meta.dirname, '..')

const stackTemplate = loadTemplate()
// The SSM document's declaration, the same for every stack; its command takes the stack's settings.
const syncDocument = stackTemplate.Resources.SyncDocument.Properties.Content

/**
 * @param {{
 *   moto: string,
 *   functionName: string,
 *   functionEnv: Record<string, string>,
 *   region?: string,
 *   credentials?: { accessKeyId: string, secretAccessKey: string },
 *   timeoutMs?: number,
 * }} options
 */
export async function startRefreshStandIn({
  moto,
  functionName,
  functionEnv,
  region = 'us-east-1',
  credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' },
  timeoutMs = 120_000
}) {
  const { makeHandler, awsDependencies } = await import(
    pathToFileURL(join(root, 'dist', 'refresh-workers', 'index.js')).href
  )
  /** @type {Map<string, { folder: string, agent: string }>} */
  const workers = new Map()
  /** @type {Map<string, { status: string, details?: string, output: string, error: string }>} */
  const invocations = new Map()
  const lifecycleCalls = []
  const functionRuns = []
  const running = new Set()
  let commands = 0
  let endpoint = ''

  const ssm = {
    DescribeInstanceInformation(input) {
      const wanted = input.Filters?.find((filter) => filter.Key === 'InstanceIds')?.Values ?? []
      return {
        InstanceInformationList: wanted
          .filter((id) => workers.has(id) && workers.get(id).agent !== 'absent')
          .map((id) => ({ InstanceId: id, PingStatus: workers.get(id).agent }))
      }
    },
    SendCommand(input) {
      if (input.DocumentName !== functionEnv.SSM_DOCUMENT_NAME) {
        return error(
          400,
          'InvalidDocument',
          `document ${input.DocumentName} is not the sync document`
        )
      }
      const commandId = `0000000${++commands}-0000-4000-8000-000000000000`.slice(-36)
      for (const instanceId of input.InstanceIds ?? []) {
        const worker = workers.get(instanceId)
        const key = `${commandId}/${instanceId}`
        if (worker === undefined || worker.agent !== 'Online') {
          invocations.set(key, { status: 'Undeliverable', output: '', error: '' })
          continue
        }
        invocations.set(key, { status: 'InProgress', output: '', error: '' })
        const run = runDocument(input.Parameters ?? {}, worker.folder).then((ended) =>
          invocations.set(key, ended)
        )
        running.add(run)
        run.finally(() => running.delete(run))
      }
      return {
        Command: { CommandId: commandId, DocumentName: input.DocumentName, Status: 'Pending' }
      }
    },
    GetCommandInvocation(input) {
      const invocation = invocations.get(`${input.CommandId}/${input.InstanceId}`)
      if (invocation === undefined) {
        return error(400, 'InvocationDoesNotExist', 'no such invocation')
      }
      return {
        CommandId: input.CommandId,
        InstanceId: input.InstanceId,
        Status: invocation.status,
        StatusDetails: invocation.details ?? invocation.status,
        StandardOutputContent: invocation.output,
        StandardErrorContent: invocation.error
      }
    }
  }

  /**
   * The stack's sync document on one stand-in worker, as the SSM agent runs it: written with the
   * stack's settings (the function's own, as the stack sets both), each parameter sent checked
   * against its declaration, its {{ Name }} replaced by the value, and the command run with sh.
   * The one liberty: the DAG folder, the same path on every real worker, becomes this worker's
   * own folder.
   */
  function runDocument(parameters, folder) {
    for (const [name, [value = ''] = []] of Object.entries(parameters)) {
      const declared = syncDocument.parameters[name]
      const refused =
        declared === undefined ||
        (declared.allowedPattern !== undefined &&
          !new RegExp(declared.allowedPattern).test(value)) ||
        (declared.allowedValues !== undefined && !declared.allowedValues.includes(value))
      if (refused) {
        return Promise.resolve({
          status: 'Failed',
          output: '',
          error: `InvalidParameters: ${name} does not match the document`
        })
      }
    }
    // The stack as the function's settings say it was made.
    const { resources } = resolveTemplate(stackTemplate, {
      Mode: 'ssm',
      DagBucket: functionEnv.DAG_BUCKET,
      ...(functionEnv.DAG_PREFIX !== undefined ? { DagPrefix: functionEnv.DAG_PREFIX } : {}),
      WorkerGroups: functionEnv.WORKER_GROUPS,
      WorkerDagFolder: folder,
      ...(functionEnv.WORKER_START_COMMAND !== undefined
        ? { WorkerStartCommand: functionEnv.WORKER_START_COMMAND }
        : {})
    })
    const command = resources.SyncDocument.Properties.Content.mainSteps[0].inputs.runCommand
      .join('\n')
      .replace(
        /\{\{ *(\w+) *\}\}/g,
        (_, name) => parameters[name]?.[0] ?? syncDocument.parameters[name].default
      )
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_DEFAULT_REGION: region,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      // What a real worker does not need: moto in place of S3.
      SYNC_ENDPOINT_URL: moto
    }
    return new Promise((done) => {
      const child = spawn('sh', ['-c', command], { env, cwd: dirname(folder) })
      let output = ''
      let errorText = ''
      child.stdout.on('data', (chunk) => (output += chunk))
      child.stderr.on('data', (chunk) => (errorText += chunk))
      child.on('close', (code) =>
        done({
          status: code === 0 ? 'Success' : 'Failed',
          // SSM keeps the first 24,000 characters of each stream.
          output: output.slice(0, 24_000),
          error: errorText.slice(0, 8000)
        })
      )
    })
  }

  let log = []
  const handler = makeHandler(
    (config) =>
      awsDependencies(config, { endpoint, region, credentials }, (line) => log.push(line)),
    functionEnv
  )

  async function invokeFunction(body) {
    log = []
    const started = Date.now()
    const context = { getRemainingTimeInMillis: () => timeoutMs - (Date.now() - started) }
    let payload
    let functionError
    try {
      payload = await handler(JSON.parse(body || '{}'), context)
    } catch (thrown) {
      functionError = 'Unhandled'
      payload = { errorType: thrown.name, errorMessage: thrown.message, trace: [] }
      log.push(`ERROR ${thrown.name}: ${thrown.message}`)
    }
    functionRuns.push({ event: JSON.parse(body || '{}'), payload, functionError, log: [...log] })
    const tail = Buffer.from(log.join('\n')).subarray(-4096).toString('base64')
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        'x-amz-log-result': tail,
        ...(functionError ? { 'x-amz-function-error': functionError } : {})
      },
      body: JSON.stringify(payload)
    }
  }

  function lifecycle(action, form) {
    lifecycleCalls.push({ action, ...Object.fromEntries(form) })
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<${action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><${action}Result/><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></${action}Response>`
    }
  }

  const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations(\?|$)/
  async function answer(req, body) {
    const target = String(req.headers['x-amz-target'] ?? '')
    if (target.startsWith('AmazonSSM.')) {
      const operation = ssm[target.slice('AmazonSSM.'.length)]
      if (operation === undefined) return error(400, 'UnknownOperation', target)
      const result = operation(JSON.parse(body.toString('utf8') || '{}'))
      return result.status !== undefined ? result : json(result)
    }
    const invoke = invokePath.exec(req.url ?? '')
    if (req.method === 'POST' && invoke !== null) {
      const name = decodeURIComponent(invoke[1]).split(':function:').pop().split(':')[0]
      if (name === functionName) return invokeFunction(body.toString('utf8'))
    }
    if (
      req.method === 'POST' &&
      /^application\/x-www-form-urlencoded/.test(String(req.headers['content-type']))
    ) {
      const form = new URLSearchParams(body.toString('utf8'))
      const action = form.get('Action')
      if (action === 'CompleteLifecycleAction' || action === 'RecordLifecycleActionHeartbeat') {
        return lifecycle(action, form)
      }
    }
    return undefined
  }

  const proxy = await startProxy(moto, {
    intercept: async (req) => {
      try {
        return await answer(req, req.body)
      } catch (thrown) {
        return error(500, 'InternalFailure', thrown.message)
      }
    }
  })
  endpoint = proxy.url

  return {
    endpoint,
    /** Adds a stand-in worker: `folder` is where it holds the DAGs; its agent is Online unless told. */
    addWorker(instanceId, folder, agent = 'Online') {
      workers.set(instanceId, { folder, agent })
    },
    setAgent(instanceId, agent) {
      workers.get(instanceId).agent = agent
    },
    lifecycleCalls,
    functionRuns,
    async stop() {
      await Promise.allSettled([...running])
      await proxy.stop()
    }
  }
}

function json(value) {
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.1' },
    body: JSON.stringify(value)
  }
}

function error(status, type, message) {
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1' },
    body: JSON.stringify({ __type: type, message })
  }
}

/**
 * An Auto Scaling group of `size` InService instances in moto, made from a launch template of
 * one of moto's images.
 * @returns {Promise<string[]>} the instance ids, sorted
 */
export async function createWorkerGroup(
  moto,
  {
    name,
    size,
    region = 'us-east-1',
    credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }
  }
) {
  const options = { endpoint: moto, region, credentials }
  const ec2 = new EC2Client(options)
  const autoScaling = new AutoScalingClient(options)
  try {
    const images = await ec2.send(new DescribeImagesCommand({}))
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: `${name}-template`,
        LaunchTemplateData: { ImageId: images.Images?.[0]?.ImageId, InstanceType: 't3.medium' }
      })
    )
    await autoScaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        LaunchTemplate: { LaunchTemplateName: `${name}-template`, Version: '$Latest' },
        MinSize: size,
        MaxSize: size + 2,
        DesiredCapacity: size,
        AvailabilityZones: [`${region}a`]
      })
    )
    const described = await autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })
    )
    const ids = (described.AutoScalingGroups?.[0]?.Instances ?? []).map(
      (instance) => instance.InstanceId
    )
    if (ids.length !== size) throw new Error(`moto made ${ids.length} instances, not ${size}`)
    return ids.sort()
  } finally {
    ec2.destroy()
    autoScaling.destroy()
  }
}
