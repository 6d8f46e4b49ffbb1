// The environment both tools of the deploy-dags benchmarks (bench/deploy-dags.mjs,
// bench/deploy-dags-scale.mjs) run in: moto's test credentials and nothing from the user's setup.
import { join } from 'node:path'

/** `home` is the benchmark's temporary folder; the config files named there do not exist. */
export const toolEnv = (home) => ({
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  // The CLI (botocore) reads AWS_DEFAULT_REGION.
  AWS_DEFAULT_REGION: 'us-east-1',
  // No user config file can change either tool's behaviour (concurrency, addressing, profiles).
  AWS_CONFIG_FILE: join(home, 'no-aws-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
  AWS_EC2_METADATA_DISABLED: 'true'
})
