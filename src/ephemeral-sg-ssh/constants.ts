export const Input = {
  SecurityGroupIds: 'security-group-ids',
  Port: 'port',
  Ip: 'ip',
  IpLookupUrls: 'ip-lookup-urls',
  Hosts: 'hosts',
  Username: 'username',
  PrivateKey: 'private-key',
  Passphrase: 'passphrase',
  KnownHosts: 'known-hosts',
  HostFingerprints: 'host-fingerprints',
  InsecureSkipHostKeyCheck: 'insecure-skip-host-key-check',
  JumpHost: 'jump-host',
  Upload: 'upload',
  Script: 'script',
  Env: 'env',
  Parallel: 'parallel',
  MaxParallel: 'max-parallel',
  FailFast: 'fail-fast',
  ConnectTimeout: 'connect-timeout',
  CommandTimeout: 'command-timeout',
  RuleTtl: 'rule-ttl',
  KeepSpecialBits: 'keep-special-bits',
  SweepOnly: 'sweep-only',
  Region: 'region',
  EndpointUrl: 'endpoint-url'
} as const

export const Output = {
  Ip: 'ip',
  RuleIds: 'rule-ids',
  Results: 'results',
  ExposureSeconds: 'exposure-seconds',
  SweptRuleIds: 'swept-rule-ids'
} as const

/** Names of the values the main step hands to the post step. */
export const State = {
  /** JSON list of {groupId, ruleId} this run created; saved right after each rule is made. */
  Rules: 'rules',
  /** JSON list of rule ids confirmed gone. */
  Revoked: 'revoked',
  /**
   * 'true' once the main step confirmed that no rule of this run exists (by id and by session
   * tag, with no authorize call unanswered): the post step then has nothing to look for.
   */
  Closed: 'closed',
  /**
   * A random id tagged on every rule of this run, saved before the first rule is asked for: a
   * rule whose id never reached us (a retried authorize, a kill mid-call) is still found by it.
   */
  Session: 'session'
} as const

/** Tag that marks the rules this action creates, so leaked ones can be found and swept. */
export const MANAGED_BY_TAG = 'managed-by'
export const MANAGED_BY_VALUE = 'airflow-aws-deploy-actions/ephemeral-sg-ssh'
export const CREATED_AT_TAG = 'created-at'
/** When a leaked rule may be swept: fixed at creation, so no other run's TTL can cut it short. */
export const EXPIRES_AT_TAG = 'expires-at'
export const SESSION_TAG = 'deploy-session'

export const DEFAULT_IP_LOOKUP_URLS = [
  'https://checkip.amazonaws.com',
  'https://api.ipify.org',
  'https://ipv4.icanhazip.com'
]

/**
 * Hosts deployed at once unless max-parallel says otherwise. OpenSSH's default MaxStartups (10)
 * drops some handshakes beyond 10 unauthenticated connections to one server, and a bastion is one
 * server for every host behind it.
 */
export const DEFAULT_MAX_PARALLEL = 8
