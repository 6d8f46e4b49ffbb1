import { describe, expect, it } from '@jest/globals'
import {
  deployChainMarkdown,
  mermaidText,
  readRefreshResponse,
  WORKERS_IN_PICTURE,
  WORKERS_IN_TABLE,
  type DeployChainInput
} from '../../src/common/deploy-chain.js'
import { cap } from '../../src/common/one-line.js'
import { escapeText } from '../../src/common/untrusted.js'
import {
  failureLine,
  refreshResult,
  type WorkerResult,
  type WorkerStatus
} from '../../src/refresh-workers/result.js'
import { mermaidBlock, parseFlowchart, type ParsedFlowchart } from '../support/mermaid.js'

const SHA = '0123456789abcdef0123456789abcdef01234567'

function worker(instanceId: string, status: WorkerStatus, reason?: string): WorkerResult {
  return {
    instanceId,
    status,
    durationMs: 2400,
    filesVerified: status === 'refreshed' ? 12 : 0,
    outputTail: 'sync output',
    ...(reason !== undefined ? { reason } : {})
  }
}

/** The function's answer as invoke-lambda passes it on: its result, or Lambda's error payload. */
function answer(workers: WorkerResult[]): { response: string; functionError?: string } {
  const result = refreshResult({
    kind: 'deploy',
    bucket: 'dag-bucket',
    prefix: 'dags',
    sha: SHA,
    workers,
    tolerateOffline: false
  })
  if (result.ok) return { response: JSON.stringify(result) }
  return {
    functionError: 'Unhandled',
    response: JSON.stringify({
      errorType: 'RefreshFailed',
      errorMessage: result.error,
      trace: ['RefreshFailed: ' + result.error, '    at handler (index.mjs:1:1)']
    })
  }
}

function chain(refresh?: DeployChainInput['refresh']): DeployChainInput {
  return {
    repository: 'octo-org/airflow',
    sha: SHA,
    bucket: 'dag-bucket',
    prefix: 'dags',
    uploaded: 3,
    deleted: 1,
    ...(refresh !== undefined ? { refresh } : {})
  }
}

/** The markdown's diagram, parsed by Mermaid: every test checks what a reader would be shown. */
async function rendered(markdown: string): Promise<ParsedFlowchart> {
  return parseFlowchart(mermaidBlock(markdown))
}

const labels = (graph: ParsedFlowchart) =>
  Object.fromEntries(graph.nodes.map((node) => [node.id, node.label]))

describe('deployChainMarkdown', () => {
  it('draws repository, bucket, function and each worker with its status', async () => {
    const markdown = deployChainMarkdown(
      chain({
        functionName: 'airflow-refresh-workers',
        ...answer([worker('i-0b', 'refreshed'), worker('i-0a', 'refreshed')])
      })
    )
    const graph = await rendered(markdown)
    expect(labels(graph)).toEqual({
      repository: 'octo-org/airflow@0123456',
      bucket: 's3://dag-bucket/dags/<br/>3 uploaded, 1 deleted',
      refresh: 'airflow-refresh-workers<br/>succeeded',
      worker1: 'i-0a<br/>refreshed, 12 files verified, 2.4 s',
      worker2: 'i-0b<br/>refreshed, 12 files verified, 2.4 s'
    })
    expect(graph.edges.map(({ from, to }) => `${from}->${to}`)).toEqual([
      'repository->bucket',
      'bucket->refresh',
      'refresh->worker1',
      'refresh->worker2'
    ])
    expect(graph.classes).toMatchObject({ refresh: ['good'], worker1: ['good'] })
    expect(markdown).not.toContain('| Worker |')
  })

  it('shows the failed, timed-out and offline workers with why, and the failure line', async () => {
    const workers = [
      worker('i-01', 'refreshed'),
      worker('i-02', 'failed', '1 file not as deployed: a.py missing'),
      worker('i-03', 'timed-out', 'no answer within 300 s'),
      worker('i-04', 'offline', 'the SSM agent is ConnectionLost')
    ]
    const graph = await rendered(
      deployChainMarkdown(chain({ functionName: 'refresh', ...answer(workers) }))
    )
    expect(labels(graph)).toMatchObject({
      refresh: 'refresh<br/>failed (RefreshFailed)',
      answer: failureLine(workers, false)
    })
    expect(graph.classes).toMatchObject({ refresh: ['bad'], answer: ['bad'] })
    // Lambda's error payload carries the one line, not the workers: they are not invented.
    expect(graph.nodes.map((node) => node.id)).toEqual([
      'repository',
      'bucket',
      'refresh',
      'answer'
    ])
  })

  it('draws each worker of a result that is not ok, with the reason and a tone per status', async () => {
    const result = refreshResult({
      kind: 'deploy',
      bucket: 'dag-bucket',
      prefix: 'dags',
      workers: [
        worker('i-01', 'refreshed'),
        worker('i-02', 'failed', 'its DAG folder is not the deployed tree'),
        worker('i-03', 'timed-out', 'no answer within 300 s'),
        worker('i-04', 'offline', 'the SSM agent is ConnectionLost')
      ],
      tolerateOffline: false
    })
    const graph = await rendered(
      deployChainMarkdown(chain({ functionName: 'refresh', response: JSON.stringify(result) }))
    )
    expect(labels(graph)).toMatchObject({
      refresh: 'refresh<br/>failed',
      worker2: 'i-02<br/>failed, 2.4 s<br/>its DAG folder is not the deployed tree',
      worker3: 'i-03<br/>timed-out, 2.4 s<br/>no answer within 300 s',
      worker4: 'i-04<br/>offline<br/>the SSM agent is ConnectionLost'
    })
    expect(graph.classes).toMatchObject({
      worker1: ['good'],
      worker2: ['bad'],
      worker3: ['bad'],
      worker4: ['pending']
    })
  })

  it('says so when the function found no worker in service', async () => {
    const graph = await rendered(
      deployChainMarkdown(chain({ functionName: 'refresh', ...answer([]) }))
    )
    expect(labels(graph).workers).toBe('no worker in service')
  })

  it('keeps the picture to counts and lists many workers in a table, not refreshed first', async () => {
    const workers = Array.from({ length: WORKERS_IN_PICTURE + 8 }, (_, index) =>
      worker(`i-${String(index).padStart(3, '0')}`, index === 5 ? 'failed' : 'refreshed', 'x')
    )
    const result = refreshResult({
      kind: 'resync',
      bucket: 'b',
      prefix: '',
      workers,
      tolerateOffline: false
    })
    const markdown = deployChainMarkdown(
      chain({ functionName: 'refresh', response: JSON.stringify(result) })
    )
    const graph = await rendered(markdown)
    expect(graph.nodes.filter((node) => node.id.startsWith('worker'))).toEqual([])
    expect(labels(graph)).toMatchObject({
      statusrefreshed: '19 refreshed',
      statusfailed: '1 failed'
    })
    const table = markdown.slice(markdown.indexOf('| Worker |')).trim().split('\n')
    expect(table).toHaveLength(2 + workers.length)
    expect(table[2]).toBe('| `i-005` | failed | 0 | 2.4 s | `x` |')
    expect(table[3]).toMatch(/^\| `i-000` \| refreshed \| 12 \| 2\.4 s \|/)
  })

  it('counts the workers beyond the table', () => {
    const workers = Array.from({ length: WORKERS_IN_TABLE + 3 }, (_, index) =>
      worker(`i-${String(index).padStart(4, '0')}`, 'refreshed')
    )
    const markdown = deployChainMarkdown(chain({ functionName: 'refresh', ...answer(workers) }))
    expect(markdown.match(/^\| `i-/gm)).toHaveLength(WORKERS_IN_TABLE)
    expect(markdown).toContain('…and 3 more workers, all refreshed.')
  })

  it('draws an MWAA deploy as repository, bucket and environment', async () => {
    const graph = await rendered(
      deployChainMarkdown({
        ...chain(),
        mwaa: { environment: 'analytics', updated: true, status: 'AVAILABLE' }
      })
    )
    expect(labels(graph)).toEqual({
      repository: 'octo-org/airflow@0123456',
      bucket: 's3://dag-bucket/dags/<br/>3 uploaded, 1 deleted',
      environment: 'MWAA analytics<br/>update started<br/>AVAILABLE'
    })
    expect(graph.classes.environment).toEqual(['good'])
    const failed = await rendered(
      deployChainMarkdown({
        ...chain(),
        mwaa: { environment: 'analytics', updated: true, status: 'UPDATE_FAILED' }
      })
    )
    expect(failed.classes.environment).toEqual(['bad'])
    const quiet = await rendered(
      deployChainMarkdown({
        ...chain(),
        mwaa: { environment: 'analytics', updated: false, status: '' }
      })
    )
    expect(labels(quiet).environment).toBe('MWAA analytics<br/>no update needed<br/>status unknown')
  })

  it.each([
    ['empty', '', 'the response is empty'],
    ['not JSON', '<html>502 Bad Gateway</html>', 'the response is not JSON'],
    ['an array', '[1,2]', 'the response is no JSON object'],
    ['another function', '{"statusCode":200,"body":"done"}', 'the response has no ok and workers']
  ])('says the response could not be read when it is %s', async (_, response, why) => {
    const graph = await rendered(deployChainMarkdown(chain({ functionName: 'refresh', response })))
    expect(labels(graph).answer).toContain(`the response could not be read: ${why}`)
    expect(graph.classes.answer).toEqual(['bad'])
  })

  it('draws the workers it can read and counts the entries it cannot', async () => {
    const response = JSON.stringify({
      ok: true,
      workers: [
        { instanceId: 'i-01', status: 'refreshed', filesVerified: 'many', durationMs: -1 },
        { instanceId: 'i-02', status: 'exploded' },
        { status: 'refreshed' },
        'i-04',
        null
      ]
    })
    const graph = await rendered(deployChainMarkdown(chain({ functionName: 'f', response })))
    expect(labels(graph)).toMatchObject({
      unread: '3 worker entries could not be read',
      worker1: 'i-01<br/>refreshed',
      worker2: 'i-02<br/>unknown status'
    })
  })
})

describe('labels from outside cannot break or steer the diagram', () => {
  const hostile = [
    'a"] --> evil["x',
    'end',
    '[brackets] (round) {curly} <angle>',
    '```\n</details><script>alert(1)</script>',
    'line one\nline two\r\n\nclick worker1 "javascript:alert(1)"',
    '%%{init: {"securityLevel": "loose"}}%%',
    '%% a comment',
    '`**markdown string**`',
    '#quot; #35; &amp; &#60;',
    'style worker1 fill:#f00;',
    'classDef bad fill:#000;',
    '-->|label| ; x --- y',
    '\u202e\u2028\u0000\u001b[31m',
    'é 日本 😀',
    'x'.repeat(500)
  ]

  it.each(hostile)('%j is shown as text, in its node only', async (text) => {
    const markdown = deployChainMarkdown({
      repository: text,
      sha: text,
      bucket: text,
      prefix: text,
      uploaded: 0,
      deleted: 0,
      refresh: {
        functionName: text,
        response: JSON.stringify({
          ok: false,
          error: text,
          workers: [
            { instanceId: text, status: 'failed', durationMs: 5, filesVerified: 0, reason: text }
          ]
        })
      },
      mwaa: { environment: text, updated: false, status: text }
    })
    const block = mermaidBlock(markdown)
    // Only our own statements, one a line; no fence, directive or comment from the text.
    for (const line of block.split('\n').slice(1)) {
      expect(line).toMatch(/^ {2}(\w+\[".*"\]|\w+ --> \w+|classDef \w+ [\w:#,]+|class [\w,]+ \w+)$/)
    }
    expect(block).not.toMatch(/%%|`/)
    for (const [, label] of block.matchAll(/\["(.*)"\]$/gm)) {
      expect((label as string).replace(/<br\/>/g, '')).toMatch(/^[\w .,/@+()#;-]*$/)
    }
    const graph = await parseFlowchart(block)
    const shown = (limit: number) => cap(escapeText(text), limit)
    expect(labels(graph)).toEqual({
      // Mermaid trims a label.
      repository: `${shown(100)}@${cap(escapeText([...text].slice(0, 7).join('')), 40)}`.trim(),
      bucket: `s3://${cap(escapeText(`${text}/${text.replace(/\/+$/, '')}/`), 100)}<br/>0 uploaded, 0 deleted`,
      refresh: `${shown(100)}<br/>failed`,
      answer: shown(300),
      worker1: `${shown(100)}<br/>failed, 5 ms<br/>${shown(160)}`,
      environment: `MWAA ${shown(100)}<br/>no update needed<br/>${shown(40)}`
    })
    expect(graph.edges).toHaveLength(5)
    expect(graph.nodes.some((node) => node.link !== undefined)).toBe(false)
  })

  it('codes every character outside letters, digits and plain punctuation', () => {
    expect(mermaidText('a"b:c<d>e`f%g#h;i\nj', 100)).toBe(
      'a#34;b#58;c#60;d#62;e#96;f#37;g#35;h#59;i#92;nj'
    )
    expect(mermaidText('x'.repeat(20), 5)).toBe('xxxxx#8230;')
  })
})

describe('readRefreshResponse', () => {
  it('reads a result, an error payload and says why anything else is unreadable', () => {
    expect(readRefreshResponse(answer([worker('i-1', 'refreshed')]).response)).toEqual({
      kind: 'result',
      ok: true,
      workers: [{ instanceId: 'i-1', status: 'refreshed', durationMs: 2400, filesVerified: 12 }],
      unreadable: 0
    })
    expect(readRefreshResponse('{"errorType":"EventRefused","errorMessage":"no"}')).toEqual({
      kind: 'error',
      errorType: 'EventRefused',
      errorMessage: 'no'
    })
    expect(readRefreshResponse('{"ok":true,"workers":[]}', 'Unhandled')).toEqual({
      kind: 'error',
      errorType: 'Unhandled',
      errorMessage: 'no error message'
    })
    expect(readRefreshResponse(undefined)).toMatchObject({ kind: 'unreadable' })
    expect(readRefreshResponse('"ok"')).toMatchObject({ kind: 'unreadable' })
  })
})
