// Lambda functions in moto_server for tests and the demo. moto runs them without Docker once
// told to; such a function answers with the event it was given.
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam'
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  LambdaClient,
  PublishVersionCommand
} from '@aws-sdk/client-lambda'

// index.py: def handler(event, context): return event
const ECHO_ZIP = Buffer.from(
  'UEsDBBQAAAAAAFAfdl20CHBpLgAAAC4AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gZXZlbnQKUEsBAhQDFAAAAAAAUB92XbQIcGkuAAAALgAAAAgAAAAAAAAAAAAAAIABAAAAAGluZGV4LnB5UEsFBgAAAAABAAEANgAAAFQAAAAAAA==',
  'base64'
)

const clientOptions = (endpoint, region = 'us-east-1') => ({
  endpoint,
  region,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
})

/** Makes moto run Lambda functions in-process (no Docker), echoing their event. */
export async function useLambdaWithoutDocker(endpoint) {
  const response = await fetch(`${endpoint}/moto-api/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lambda: { use_docker: false } })
  })
  if (!response.ok) throw new Error(`moto config: HTTP ${response.status}`)
}

let roleArn
/**
 * Creates an echo function in `region`, publishes version 1 and points the alias `live` at it.
 * @returns {Promise<{ name: string, arn: string }>}
 */
export async function createEchoFunction(endpoint, name, { region = 'us-east-1' } = {}) {
  const iam = new IAMClient(clientOptions(endpoint))
  const lambda = new LambdaClient(clientOptions(endpoint, region))
  try {
    if (roleArn === undefined) {
      const role = await iam.send(
        new CreateRoleCommand({
          RoleName: `lambda-exec-${process.pid}`,
          AssumeRolePolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'lambda.amazonaws.com' },
                Action: 'sts:AssumeRole'
              }
            ]
          })
        })
      )
      roleArn = role.Role.Arn
    }
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'python3.12',
        Role: roleArn,
        Handler: 'index.handler',
        Code: { ZipFile: ECHO_ZIP }
      })
    )
    const version = await lambda.send(new PublishVersionCommand({ FunctionName: name }))
    await lambda.send(
      new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: version.Version })
    )
    return { name, arn: created.FunctionArn }
  } finally {
    iam.destroy()
    lambda.destroy()
  }
}
