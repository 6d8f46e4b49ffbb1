export const id = 797;
export const ids = [797];
export const modules = {

/***/ 1922:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   dd: () => (/* binding */ SafetyError),
/* harmony export */   dz: () => (/* binding */ InputError),
/* harmony export */   gJ: () => (/* binding */ errorMessage)
/* harmony export */ });
/** A problem with what the workflow asked for: reported as is, without a stack trace. */
class InputError extends Error {
    input;
    constructor(input, message) {
        super(`${input}: ${message}`);
        this.input = input;
        this.name = 'InputError';
    }
}
/** A refusal to act because acting could lose data; the message says which input allows it. */
class SafetyError extends Error {
    constructor(message) {
        super(message);
        this.name = 'SafetyError';
    }
}
function errorMessage(error) {
    if (error instanceof Error)
        return error.message;
    if (typeof error === 'string')
        return error;
    try {
        return JSON.stringify(error);
    }
    catch {
        return String(error);
    }
}


/***/ }),

/***/ 9797:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  runPost: () => (/* binding */ runPost)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 14 modules
var lib_core = __webpack_require__(6421);
// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
// EXTERNAL MODULE: external "node:https"
var external_node_https_ = __webpack_require__(4708);
// EXTERNAL MODULE: ./node_modules/@smithy/node-http-handler/dist-cjs/index.js
var dist_cjs = __webpack_require__(1279);
// EXTERNAL MODULE: ./src/common/errors.ts
var errors = __webpack_require__(1922);
// EXTERNAL MODULE: external "node:buffer"
var external_node_buffer_ = __webpack_require__(4573);
;// CONCATENATED MODULE: ./src/common/untrusted.ts

// Text that came from outside the workflow (a file name in the repository, an object key in the
// bucket, an answer from a remote host) is shown, never obeyed. The runner reads a log line as a
// workflow command when it starts with `::` (after blanks) and, in the legacy form, wherever
// `##[` appears in it; a line break inside the text would start a new line. `escapeText` makes a
// string safe to put anywhere in a log line or a message; long output from someone else goes
// through `untrustedOutput` in runner.ts, which switches commands off altogether.
const NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };
/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** True when the text holds a character that would break or hide a line in a log. */
function hasControlCharacter(text) {
    return CONTROL.test(text);
}
/**
 * One line, readable, that no runner can take for a workflow command: controls become `\n`,
 * `\xNN` or `\uNNNN`, a backslash `\\` (so the escaped form is unambiguous), `::` becomes
 * `:\x3a` and `##[` becomes `##\x5b`.
 */
function untrusted_escapeText(text) {
    let out = '';
    for (const char of text) {
        const code = char.codePointAt(0);
        if (NAMED[char] !== undefined)
            out += NAMED[char];
        else if (code < 0x20 || (code >= 0x7f && code <= 0x9f))
            out += `\\x${hex(code, 2)}`;
        else if (code === 0x2028 || code === 0x2029)
            out += `\\u${hex(code, 4)}`;
        else
            out += char;
    }
    return out.replace(/::/g, ':\\x3a').replace(/##\[/g, '##\\x5b');
}
/**
 * A name read as raw bytes (a file name that may not be valid UTF-8), escaped: valid UTF-8 is
 * shown as text, every byte that is not part of a valid sequence as `\xNN`.
 */
function escapeBytes(bytes) {
    if (isUtf8(bytes))
        return untrusted_escapeText(Buffer.from(bytes).toString('utf8'));
    let out = '';
    let run = 0; // start of the current stretch of valid UTF-8
    let index = 0;
    const flush = (end) => {
        out += untrusted_escapeText(Buffer.from(bytes.subarray(run, end)).toString('utf8'));
    };
    while (index < bytes.length) {
        const length = sequenceLength(bytes[index]);
        const sequence = bytes.subarray(index, index + length);
        if (length > 0 && sequence.length === length && isUtf8(sequence)) {
            index += length;
            continue;
        }
        flush(index);
        out += `\\x${hex(bytes[index], 2)}`;
        index += 1;
        run = index;
    }
    flush(index);
    return out;
}
function sequenceLength(lead) {
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        return 2;
    if (lead >= 0xe0 && lead <= 0xef)
        return 3;
    if (lead >= 0xf0 && lead <= 0xf4)
        return 4;
    return 0;
}
function hex(value, width) {
    return value.toString(16).padStart(width, '0');
}

;// CONCATENATED MODULE: ./src/common/inputs.ts



// Strict readers for action inputs. Every reader names the input in its error and says what is
// allowed, so a typo fails the step before anything is changed instead of silently meaning "false".
function optionalString(name) {
    const value = lib_core/* getInput */.V4(name).trim();
    return value === '' ? undefined : value;
}
function requiredString(name, hint = '') {
    const value = optionalString(name);
    if (value === undefined) {
        throw new InputError(name, `is required and was not given${hint ? `; ${hint}` : ''}`);
    }
    return value;
}
const TRUE_VALUES = (/* unused pure expression or super */ null && (['true', 'True', 'TRUE']));
const FALSE_VALUES = (/* unused pure expression or super */ null && (['false', 'False', 'FALSE']));
/** YAML 1.2 booleans only: `yes`, `1` or a typo is an error, never a silent `false`. */
function booleanInput(name, fallback) {
    const value = core.getInput(name).trim();
    if (value === '')
        return fallback;
    if (TRUE_VALUES.includes(value))
        return true;
    if (FALSE_VALUES.includes(value))
        return false;
    throw new InputError(name, `must be true or false, got '${value}'`);
}
function integerInput(name, fallback, range) {
    const value = core.getInput(name).trim();
    if (value === '')
        return fallback;
    if (!/^[0-9]+$/.test(value)) {
        throw new InputError(name, `must be a whole number from ${range.min} to ${range.max}, got '${value}'`);
    }
    const parsed = Number(value);
    if (parsed < range.min || parsed > range.max) {
        throw new InputError(name, `must be from ${range.min} to ${range.max}, got ${parsed}`);
    }
    return parsed;
}
function choiceInput(name, choices) {
    const value = optionalString(name);
    if (value === undefined)
        return undefined;
    const match = choices.find((choice) => choice === value);
    if (match === undefined) {
        throw new InputError(name, `must be one of ${choices.join(', ')}; got '${value}'`);
    }
    return match;
}
/** Newline-separated values; blank lines and lines starting with `#` are ignored. */
function listInput(name) {
    return core
        .getInput(name)
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'));
}
/** A number of `unit` (minutes, seconds), decimals allowed. */
function decimalInput(name, fallback, range) {
    const value = core.getInput(name).trim();
    if (value === '')
        return fallback;
    const parsed = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN;
    if (!(parsed >= range.min && parsed <= range.max)) {
        throw new InputError(name, `must be a number of ${range.unit} from ${range.min} to ${range.max}, got '${escapeText(value)}'`);
    }
    return parsed;
}

;// CONCATENATED MODULE: ./src/common/aws-errors.ts
/** The service's error code, e.g. NoSuchBucket, AccessDenied; or a Node network error code. */
function aws_errors_awsErrorCode(error) {
    if (typeof error !== 'object' || error === null)
        return undefined;
    const shape = error;
    // Node's network errors are plain Errors whose `code` (ECONNREFUSED…) says what happened.
    const name = shape.name === 'Error' ? undefined : shape.name;
    return shape.Code ?? name ?? shape.code;
}
function aws_errors_awsStatusCode(error) {
    if (typeof error !== 'object' || error === null)
        return undefined;
    return error.$metadata?.httpStatusCode;
}

;// CONCATENATED MODULE: ./src/common/aws.ts






// The error readers have no @actions/core behind them, so the refresh function shares them too.

const USER_AGENT = 'airflow-aws-deploy-actions';
const REGION_PATTERN = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;
/**
 * Reads the `region` and `endpoint-url` inputs. The region falls back to AWS_REGION /
 * AWS_DEFAULT_REGION, which aws-actions/configure-aws-credentials exports.
 */
function readAwsTarget(env = process.env) {
    const endpointUrl = optionalString('endpoint-url');
    if (endpointUrl !== undefined && !isHttpUrl(endpointUrl)) {
        throw new errors/* InputError */.dz('endpoint-url', `must be an http:// or https:// URL, got '${endpointUrl}'`);
    }
    const fromInput = optionalString('region');
    // S3-compatible stores name regions freely (R2 uses "auto"); AWS regions have one shape.
    if (fromInput !== undefined && endpointUrl === undefined && !REGION_PATTERN.test(fromInput)) {
        throw new errors/* InputError */.dz('region', `must be an AWS region such as eu-west-1, got '${fromInput}'`);
    }
    const region = fromInput ??
        nonEmpty(env.AWS_REGION) ??
        nonEmpty(env.AWS_DEFAULT_REGION) ??
        // A custom endpoint (a local S3-compatible store) still needs some region to sign with.
        (endpointUrl !== undefined ? 'us-east-1' : undefined);
    if (region === undefined) {
        throw new errors/* InputError */.dz('region', 'no AWS region given: set the region input, or AWS_REGION (aws-actions/configure-aws-credentials sets it)');
    }
    return endpointUrl === undefined ? { region } : { region, endpointUrl };
}
function isHttpUrl(text) {
    try {
        const url = new URL(text);
        return url.protocol === 'http:' || url.protocol === 'https:';
    }
    catch {
        return false;
    }
}
function nonEmpty(value) {
    return value === undefined || value.trim() === '' ? undefined : value.trim();
}
/**
 * Configuration shared by every SDK v3 client of the pack. Credentials are deliberately left to
 * the SDK's default chain, so OIDC role sessions from configure-aws-credentials, instance
 * profiles and environment keys all work without an input of ours.
 */
function aws_clientConfig(target, tuning = {}) {
    const maxSockets = tuning.maxSockets ?? 50;
    return {
        region: target.region,
        ...(target.endpointUrl !== undefined ? { endpoint: target.endpointUrl } : {}),
        maxAttempts: tuning.maxAttempts ?? 5,
        retryMode: 'standard',
        customUserAgent: USER_AGENT,
        requestHandler: new dist_cjs.NodeHttpHandler({
            // keepAlive also turns on TCP keep-alive probes, which keep a long silent request (a
            // 15-minute Lambda invocation) from being dropped by NAT gateways on the way.
            httpAgent: new external_node_http_.Agent({ keepAlive: true, maxSockets }),
            httpsAgent: new external_node_https_.Agent({ keepAlive: true, maxSockets }),
            connectionTimeout: tuning.connectionTimeoutMs ?? 10_000,
            socketTimeout: tuning.idleTimeoutMs ?? 120_000,
            ...(tuning.deadlineMs !== undefined
                ? { requestTimeout: tuning.deadlineMs, throwOnRequestTimeout: true }
                : {})
        })
    };
}
/**
 * Turns an SDK failure into one sentence a workflow author can act on. `doing` says what was
 * attempted ("listing s3://bucket/dags/"); `hints` adds service-specific advice per error code.
 */
function aws_describeAwsFailure(error, doing, hints = {}) {
    const code = awsErrorCode(error) ?? '';
    const status = awsStatusCode(error);
    const hint = hints[code];
    if (hint !== undefined)
        return new Error(`${doing} failed: ${hint}`);
    if (code === 'CredentialsProviderError' ||
        /Could not load credentials/i.test(errorMessage(error))) {
        return new Error(`${doing} failed: no AWS credentials found. Add aws-actions/configure-aws-credentials (OIDC role) before this step, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.`);
    }
    if ([
        'InvalidAccessKeyId',
        'SignatureDoesNotMatch',
        'ExpiredToken',
        'InvalidToken',
        'UnrecognizedClientException'
    ].includes(code)) {
        return new Error(`${doing} failed: the AWS credentials were rejected (${code}). Check the role or keys configured for this job.`);
    }
    if (code === 'AccessDenied' || code === 'AccessDeniedException' || status === 403) {
        return new Error(`${doing} failed: access denied (${code || 'HTTP 403'}). Grant the job's role the permission for this call.`);
    }
    if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301) {
        return new Error(`${doing} failed: the resource is in another region than the one configured (${code || 'HTTP 301'}). Set the region input to the resource's region.`);
    }
    if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'TimeoutError'].includes(code)) {
        return new Error(`${doing} failed: could not reach the AWS endpoint (${code}). Check endpoint-url, region and the runner's network.`);
    }
    return new Error(`${doing} failed: ${code ? `${code}: ` : ''}${errorMessage(error)}`);
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: ./src/ephemeral-sg-ssh/constants.ts
var constants = __webpack_require__(7718);
// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-ec2/dist-cjs/index.js
var client_ec2_dist_cjs = __webpack_require__(5193);
;// CONCATENATED MODULE: ./src/ephemeral-sg-ssh/rules.ts

function runContext(env = process.env) {
    return {
        repository: env.GITHUB_REPOSITORY ?? 'unknown',
        runId: env.GITHUB_RUN_ID ?? 'local',
        runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1'
    };
}
/** EC2 allows a limited character set in rule descriptions; anything else becomes `_`. */
function rules_ruleDescription(context) {
    const text = `deploy ${context.repository} run ${context.runId} attempt ${context.runAttempt}`;
    return text.replace(/[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, '_').slice(0, 255);
}
function rules_ruleTags(context, createdAt, ttlSeconds, session) {
    return [
        { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
        { Key: SESSION_TAG, Value: session },
        { Key: CREATED_AT_TAG, Value: createdAt.toISOString() },
        { Key: EXPIRES_AT_TAG, Value: new Date(createdAt.getTime() + ttlSeconds * 1000).toISOString() },
        { Key: 'repository', Value: context.repository },
        { Key: 'run-id', Value: context.runId },
        { Key: 'run-attempt', Value: context.runAttempt },
        { Key: 'Name', Value: `ephemeral deploy access, run ${context.runId}` }
    ];
}
function rules_ingressPermission(address, port, description) {
    const range = address.family === 4
        ? { IpRanges: [{ CidrIp: address.cidr, Description: description }] }
        : { Ipv6Ranges: [{ CidrIpv6: address.cidr, Description: description }] };
    return { IpProtocol: 'tcp', FromPort: port, ToPort: port, ...range };
}
/**
 * Rules this action created in earlier runs and that are past their expiry: a force-terminated
 * job never ran its cleanup. The expiry was fixed by the run that made the rule (its rule-ttl),
 * so a run with a short TTL cannot sweep another job's rule still in use; rules without that tag
 * fall back to their creation time plus this run's TTL. Only rules carrying our tag and a
 * readable time qualify; everything else in the group is left alone.
 */
function rules_expiredRules(rules, now, ttlSeconds) {
    return rules.filter((rule) => {
        if (rule.tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE)
            return false;
        const expires = Date.parse(rule.tags[EXPIRES_AT_TAG] ?? '');
        if (!Number.isNaN(expires))
            return now.getTime() > expires;
        const created = Date.parse(rule.tags[CREATED_AT_TAG] ?? '');
        if (Number.isNaN(created))
            return false;
        return now.getTime() - created > ttlSeconds * 1000;
    });
}

;// CONCATENATED MODULE: ./src/ephemeral-sg-ssh/ec2.ts







function createEc2Client(target) {
    return new EC2Client(clientConfig(target, { connectionTimeoutMs: 5_000, idleTimeoutMs: 20_000 }));
}
/**
 * The client that closes: short, so that revoking fits in the 7.5 s the runner leaves between
 * SIGINT and SIGTERM (revokeRules retries on top of it, and the post step follows anyway).
 */
function createClosingEc2Client(target) {
    return new client_ec2_dist_cjs/* EC2Client */.gu5(aws_clientConfig(target, {
        maxAttempts: 2,
        connectionTimeoutMs: 2_000,
        idleTimeoutMs: 3_000,
        deadlineMs: 4_000
    }));
}
/** Fails, before anything is opened, when a group does not exist or cannot be read. */
async function requireGroups(ec2, groupIds, region) {
    try {
        const { SecurityGroups = [] } = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [...groupIds] }));
        const found = new Set(SecurityGroups.map((group) => group.GroupId));
        const missing = groupIds.filter((id) => !found.has(id));
        if (missing.length > 0)
            throw new InputError(Input.SecurityGroupIds, `${missing.join(', ')} not found in ${region}`);
    }
    catch (error) {
        if (error instanceof InputError)
            throw error;
        if (awsErrorCode(error) === 'InvalidGroup.NotFound') {
            throw new InputError(Input.SecurityGroupIds, `${errorMessage(error)} (region ${region})`);
        }
        throw describeAwsFailure(error, 'Reading the security groups', {
            UnauthorizedOperation: 'access denied; the job role needs ec2:DescribeSecurityGroups'
        });
    }
}
/** Ingress rules of the groups carrying `tag` (our managed-by tag unless told otherwise). */
async function taggedRules(ec2, groupIds, tag = { key: constants/* MANAGED_BY_TAG */.dS, value: constants/* MANAGED_BY_VALUE */.Q9 }) {
    const rules = [];
    for await (const page of (0,client_ec2_dist_cjs/* paginateDescribeSecurityGroupRules */.Dl4)({ client: ec2 }, {
        Filters: [
            { Name: 'group-id', Values: [...groupIds] },
            { Name: `tag:${tag.key}`, Values: [tag.value] }
        ]
    })) {
        for (const rule of page.SecurityGroupRules ?? []) {
            if (!rule.SecurityGroupRuleId || !rule.GroupId || rule.IsEgress)
                continue;
            rules.push({
                groupId: rule.GroupId,
                ruleId: rule.SecurityGroupRuleId,
                tags: tagMap(rule.Tags)
            });
        }
    }
    return rules;
}
const tagMap = (tags) => Object.fromEntries((tags ?? []).map((entry) => [entry.Key ?? '', entry.Value ?? '']));
/** The rules tagged with this run's session id, whether or not their ids reached us. */
async function ec2_sessionRules(ec2, groupIds, session) {
    const rules = await taggedRules(ec2, groupIds, { key: constants/* SESSION_TAG */.cz, value: session });
    return rules.map(({ groupId, ruleId }) => ({ groupId, ruleId }));
}
/** Who made the rule that already allows this address and port: this action (which run), or not. */
async function ec2_duplicateOwner(ec2, groupId, cidr, port) {
    const { SecurityGroupRules = [] } = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
    const match = SecurityGroupRules.find((rule) => !rule.IsEgress &&
        rule.FromPort === port &&
        rule.ToPort === port &&
        (rule.CidrIpv4 === cidr || rule.CidrIpv6 === cidr));
    if (match === undefined)
        return undefined;
    const tags = tagMap(match.Tags);
    if (tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE)
        return {};
    return {
        ...(tags[SESSION_TAG] !== undefined ? { session: tags[SESSION_TAG] } : {}),
        ...(tags['run-id'] !== undefined ? { runId: tags['run-id'] } : {})
    };
}
/**
 * Revokes the rules this action made in earlier runs that are past their tagged expiry: a
 * force-terminated job, or credentials that expired before the revoke, leave them behind. Only
 * rules carrying this action's tag are looked at; fails when the rules cannot be listed.
 */
async function sweepExpiredRules(ec2, groupIds, ttlSeconds, now = new Date()) {
    let expired;
    try {
        expired = expiredRules(await taggedRules(ec2, groupIds), now, ttlSeconds);
    }
    catch (error) {
        throw describeAwsFailure(error, 'Listing the rules of the security groups', {
            UnauthorizedOperation: 'access denied; the job role needs ec2:DescribeSecurityGroupRules'
        });
    }
    if (expired.length === 0)
        return { swept: [], failed: [] };
    const { revoked, failed } = await ec2_revokeRules(ec2, expired);
    const gone = new Set(revoked);
    return {
        swept: expired.filter((rule) => gone.has(rule.ruleId)),
        failed: failed.map(({ rule, reason }) => ({
            rule: expired.find((candidate) => candidate.ruleId === rule.ruleId) ?? { ...rule, tags: {} },
            reason
        }))
    };
}
/**
 * The sweep a deploy does before it opens anything. Best effort: a failure here is a warning,
 * not a failed deploy.
 */
async function sweepLeakedRules(ec2, groupIds, ttlSeconds, now = new Date()) {
    try {
        const { swept, failed } = await sweepExpiredRules(ec2, groupIds, ttlSeconds, now);
        for (const { rule, reason } of failed)
            core.warning(`Could not sweep leaked rule ${rule.ruleId} in ${rule.groupId}: ${escapeText(reason)}`);
        const revoked = swept.map((rule) => rule.ruleId);
        if (revoked.length > 0)
            core.info(`Swept ${revoked.length} rule(s) left by earlier runs: ${revoked.join(', ')}`);
        return revoked;
    }
    catch (error) {
        core.warning(`Could not look for rules left by earlier runs: ${escapeText(errorMessage(error))}`);
        return [];
    }
}
/**
 * Adds one ingress rule and returns its id. An identical rule that already exists (someone
 * else's) is reported as `duplicate`: the run goes on through it and never revokes it.
 */
async function ec2_openRule(ec2, groupId, permission, tags) {
    try {
        const response = await ec2.send(new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [permission],
            TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: tags }]
        }));
        const ruleId = response.SecurityGroupRules?.[0]?.SecurityGroupRuleId;
        if (!ruleId)
            throw new Error(`EC2 returned no rule id for the rule added to ${groupId}`);
        return { ruleId };
    }
    catch (error) {
        if (awsErrorCode(error) === 'InvalidPermission.Duplicate')
            return { duplicate: true };
        throw describeAwsFailure(error, `Opening ${groupId}`, {
            UnauthorizedOperation: 'access denied; the job role needs ec2:AuthorizeSecurityGroupIngress and ec2:CreateTags',
            RulesPerSecurityGroupLimitExceeded: `${groupId} has no room for another rule (rules per security group limit)`
        });
    }
}
const GONE = new Set([
    'InvalidPermission.NotFound',
    'InvalidSecurityGroupRuleId.NotFound',
    'InvalidGroup.NotFound'
]);
/**
 * Revokes rules by SecurityGroupRuleId only, never by protocol/port/CIDR (which would also
 * remove an identical rule someone else made). Each rule is tried up to three times and a
 * failure for one group does not stop the others. The result is confirmed by listing the groups.
 */
async function ec2_revokeRules(ec2, rules, attempts = 3) {
    const failed = [];
    await Promise.all(rules.map(async (rule) => {
        for (let attempt = 1;; attempt++) {
            try {
                await ec2.send(new client_ec2_dist_cjs/* RevokeSecurityGroupIngressCommand */.eo3({
                    GroupId: rule.groupId,
                    SecurityGroupRuleIds: [rule.ruleId]
                }));
                return;
            }
            catch (error) {
                if (GONE.has(aws_errors_awsErrorCode(error) ?? ''))
                    return;
                if (attempt >= attempts) {
                    failed.push({ rule, reason: (0,errors/* errorMessage */.gJ)(error) });
                    return;
                }
                await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
            }
        }
    }));
    const stillThere = await remainingRules(ec2, rules).catch((error) => {
        // Without confirmation every rule not known to have failed stays in doubt.
        lib_core/* warning */.$e(`Could not confirm the revocation: ${(0,errors/* errorMessage */.gJ)(error)}`);
        return new Set(rules.map((rule) => rule.ruleId));
    });
    const failedIds = new Set(failed.map((entry) => entry.rule.ruleId));
    for (const rule of rules) {
        if (stillThere.has(rule.ruleId) && !failedIds.has(rule.ruleId)) {
            failed.push({ rule, reason: 'still present after revocation' });
        }
    }
    const failedNow = new Set(failed.map((entry) => entry.rule.ruleId));
    return { revoked: rules.map((rule) => rule.ruleId).filter((id) => !failedNow.has(id)), failed };
}
async function remainingRules(ec2, rules) {
    if (rules.length === 0)
        return new Set();
    const groupIds = [...new Set(rules.map((rule) => rule.groupId))];
    const present = new Set();
    for await (const page of (0,client_ec2_dist_cjs/* paginateDescribeSecurityGroupRules */.Dl4)({ client: ec2 }, { Filters: [{ Name: 'group-id', Values: groupIds }] })) {
        for (const rule of page.SecurityGroupRules ?? []) {
            if (rule.SecurityGroupRuleId)
                present.add(rule.SecurityGroupRuleId);
        }
    }
    return new Set(rules.map((rule) => rule.ruleId).filter((id) => present.has(id)));
}

;// CONCATENATED MODULE: ./src/ephemeral-sg-ssh/access.ts






/**
 * The rules to close: those we know by id, and any carrying our session tag whose id never
 * arrived. `complete` is false when the tag could not be looked up: a rule may then be missing.
 */
async function rulesToClose(ec2, known, groupIds, session) {
    const all = [...known];
    let complete = true;
    if (session) {
        const tagged = await ec2_sessionRules(ec2, groupIds, session).catch((error) => {
            lib_core/* warning */.$e(`Could not look up this run's rules by tag: ${(0,errors/* errorMessage */.gJ)(error)}`);
            complete = false;
            return [];
        });
        for (const rule of tagged)
            if (!all.some((r) => r.ruleId === rule.ruleId))
                all.push(rule);
    }
    return { rules: all, complete };
}
/**
 * The rules this run opened. A session id goes to the action state before the first rule is asked
 * for and onto every rule as a tag; each rule id goes to the state the moment EC2 returns it. So
 * the post step can close every rule even if this process is killed at any point.
 */
class GroupAccess {
    ec2;
    closer;
    groupIds;
    opened = [];
    session = randomUUID();
    openedAt;
    closedAt;
    closing;
    inFlight;
    /** Authorize calls sent and not answered: a rule may still appear after a lookup. */
    authorizing = 0;
    constructor(ec2, closer, groupIds) {
        this.ec2 = ec2;
        this.closer = closer;
        this.groupIds = groupIds;
    }
    async open(address, ports, context, ttlSeconds) {
        core.saveState(State.Session, this.session);
        for (const groupId of this.groupIds) {
            for (const port of ports) {
                if (this.closing)
                    return;
                const permission = ingressPermission(address, port, ruleDescription(context));
                const asked = Date.now();
                const tags = ruleTags(context, new Date(asked), ttlSeconds, this.session);
                const call = openRule(this.ec2, groupId, permission, tags);
                this.inFlight = call;
                this.authorizing++;
                let result;
                try {
                    result = await call;
                }
                finally {
                    this.authorizing--;
                }
                if ('ruleId' in result) {
                    this.record({ groupId, ruleId: result.ruleId }, asked);
                    core.info(`Opened ${groupId} to ${address.cidr} on port ${port} (${result.ruleId})`);
                    continue;
                }
                await this.explainDuplicate(groupId, address, port, asked);
            }
        }
    }
    /** InvalidPermission.Duplicate: maybe our own rule (the SDK retried after a lost answer). */
    async explainDuplicate(groupId, address, port, asked) {
        const owner = await duplicateOwner(this.ec2, groupId, address.cidr, port).catch(() => undefined);
        if (owner?.session === this.session) {
            for (const rule of await sessionRules(this.ec2, [groupId], this.session)) {
                if (!this.opened.some((known) => known.ruleId === rule.ruleId))
                    this.record(rule, asked);
            }
            core.info(`Opened ${groupId} to ${address.cidr} on port ${port}`);
        }
        else if (owner?.runId !== undefined) {
            core.warning(`${groupId} already allows ${address.cidr} on port ${port} through a rule of run ${owner.runId} of this action; that run closes it when it ends, which can cut this deploy off. Give the two deploys one concurrency group.`);
        }
        else {
            core.info(`${groupId} already allows ${address.cidr} on port ${port}; using that rule and leaving it in place`);
        }
    }
    record(rule, asked) {
        this.opened.push(rule);
        this.openedAt ??= asked;
        core.saveState(State.Rules, JSON.stringify(this.opened));
    }
    /** Revokes every rule opened, once, however many times it is asked (finally, signals). */
    close() {
        this.closing ??= (async () => {
            // A cancel can arrive while EC2 is creating a rule: wait for its id (briefly) so that
            // rule is closed too; the session tag finds it if the id never comes.
            if (this.inFlight) {
                let timer;
                await Promise.race([
                    this.inFlight.catch(() => undefined),
                    new Promise((resolve) => (timer = setTimeout(resolve, 3000)))
                ]);
                clearTimeout(timer);
            }
            if (this.openedAt === undefined && this.inFlight === undefined) {
                this.confirmClosed();
                return [];
            }
            // Looked up only once no authorize is unanswered, the lookup finds every rule of this run.
            const settled = this.authorizing === 0;
            const { rules, complete } = await rulesToClose(this.closer, this.opened, this.groupIds, this.session);
            if (rules.length === 0) {
                if (complete && settled)
                    this.confirmClosed();
                return [];
            }
            const { revoked, failed } = await revokeRules(this.closer, rules);
            this.closedAt = Date.now();
            core.saveState(State.Revoked, JSON.stringify(revoked));
            if (revoked.length > 0)
                core.info(`Closed ${revoked.join(', ')}`);
            if (complete && settled && failed.length === 0)
                this.confirmClosed();
            return failed;
        })();
        return this.closing;
    }
    /**
     * Tells the post step that nothing of this run can be open: every rule it knew of and every
     * rule carrying its session tag is confirmed gone, and no authorize call is unanswered.
     */
    confirmClosed() {
        core.saveState(State.Closed, 'true');
    }
    exposureSeconds() {
        if (this.openedAt === undefined)
            return 0;
        return Math.round(((this.closedAt ?? Date.now()) - this.openedAt) / 100) / 10;
    }
}

// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
;// CONCATENATED MODULE: ./src/ephemeral-sg-ssh/targets.ts

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Parses `[user@]host[:port]`; an IPv6 address with a port is written `[2001:db8::1]:22`. */
function parseTarget(text, defaultPort) {
    const value = text.trim();
    let rest = value;
    let user;
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
        user = rest.slice(0, at);
        rest = rest.slice(at + 1);
        if (!USER.test(user))
            return { error: `'${user}' is not a user name` };
    }
    let host = rest;
    let port = defaultPort;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
    if (bracketed) {
        host = bracketed[1];
        if (bracketed[2] !== undefined)
            port = Number(bracketed[2]);
        if (isIP(host) !== 6)
            return { error: `'${host}' in brackets is not an IPv6 address` };
    }
    else if (isIP(rest) === 6) {
        host = rest;
    }
    else {
        const colon = rest.lastIndexOf(':');
        if (colon >= 0) {
            host = rest.slice(0, colon);
            const portText = rest.slice(colon + 1);
            if (!/^\d{1,5}$/.test(portText))
                return { error: `'${portText}' is not a port` };
            port = Number(portText);
        }
        if (isIP(host) !== 4 && !HOSTNAME.test(host))
            return { error: `'${host}' is not a host name or address` };
    }
    if (port < 1 || port > 65535)
        return { error: `port ${port} is out of range (1-65535)` };
    return { ...(user !== undefined ? { user } : {}), host, port, label: value };
}
function parseUpload(text) {
    const colon = text.indexOf(':');
    if (colon <= 0 || colon === text.length - 1) {
        return { error: `'${text}' is not local:remote (for example dist:/var/www/app)` };
    }
    const local = text.slice(0, colon).trim();
    const remote = text.slice(colon + 1).trim();
    if (local === '' || remote === '')
        return { error: `'${text}' is not local:remote` };
    if (remote.includes('\0') || local.includes('\0'))
        return { error: 'paths cannot contain NUL' };
    return { local, remote };
}
/** `NAME=value` for the script's environment; the value is taken literally. */
function parseEnvLine(text) {
    const eq = text.indexOf('=');
    const name = eq < 0 ? text : text.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        return { error: `'${name}' is not NAME=value with a shell variable name` };
    }
    return { name, value: text.slice(eq + 1) };
}
/** Security group ids, separated by newlines or commas. */
function parseGroupIds(text) {
    const ids = text
        .split(/[\s,]+/)
        .map((id) => id.trim())
        .filter((id) => id !== '');
    const bad = ids.find((id) => !/^sg-[0-9a-f]{8,17}$/.test(id));
    if (bad !== undefined)
        return { error: `'${bad}' is not a security group id (sg-0123456789abcdef0)` };
    return { ids: [...new Set(ids)] };
}

;// CONCATENATED MODULE: ./src/ephemeral-sg-ssh/post.ts






function stateList(name) {
    try {
        const value = JSON.parse(lib_core/* getState */.Gu(name) || '[]');
        return Array.isArray(value) ? value : [];
    }
    catch {
        return [];
    }
}
/**
 * The post step (post-if: always()): closes whatever rule the main step opened and did not
 * confirm closed: it was cancelled, crashed or killed before its own cleanup finished.
 */
async function runPost() {
    const session = lib_core/* getState */.Gu(constants/* State */.Uw.Session);
    if (!session) {
        lib_core/* info */.pq('No rule was opened.');
        return;
    }
    const opened = stateList(constants/* State */.Uw.Rules);
    const revoked = new Set(stateList(constants/* State */.Uw.Revoked));
    const groups = parseGroupIds(lib_core/* getInput */.V4(constants/* Input */.pd.SecurityGroupIds));
    const groupIds = 'ids' in groups ? groups.ids : [...new Set(opened.map((rule) => rule.groupId))];
    const ec2 = createClosingEc2Client(readAwsTarget());
    try {
        // Known ids, plus any rule of this run whose id the killed main step never received.
        const { rules: candidates } = await rulesToClose(ec2, opened, groupIds, session);
        const pending = candidates.filter((rule) => !revoked.has(rule.ruleId));
        if (pending.length === 0) {
            lib_core/* info */.pq(candidates.length === 0
                ? 'No rule was opened.'
                : 'Every rule was already closed by the main step.');
            return;
        }
        lib_core/* info */.pq(`Closing ${pending.length} rule(s) the main step left open: ${pending.map((rule) => rule.ruleId).join(', ')}`);
        const { revoked: closed, failed } = await ec2_revokeRules(ec2, pending, 5);
        if (closed.length > 0)
            lib_core/* info */.pq(`Closed ${closed.join(', ')}`);
        if (failed.length > 0) {
            lib_core/* setFailed */.C1(`Could not close ${failed.map(({ rule, reason }) => `${rule.ruleId} in ${rule.groupId} (${reason})`).join(', ')}. Revoke them by hand; later runs sweep them after rule-ttl.`);
        }
    }
    finally {
        ec2.destroy();
    }
}


/***/ })

};
