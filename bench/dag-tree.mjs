// The generated DAG tree the deploy-dags benchmarks sync (bench/deploy-dags.mjs,
// bench/deploy-dags-scale.mjs): deterministic (seeded), so every run syncs the same bytes.
//
// Two layouts of the same files: 'team-domain' puts everything in 8×6 team/domain folders (the
// tree bench/deploy-dags.mjs has always measured); 'nested' adds a group level,
// team/domain/group, with about FILES_PER_GROUP files in each, as a large repository grows.
// For the same count both draw the same random numbers, so only the folders differ.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { mulberry32 } from './common.mjs'

/** Files per team/domain/group folder in the 'nested' layout (DAGs, sql/ and config/ together). */
export const FILES_PER_GROUP = 100

export const TEAMS = [
  'finance',
  'marketing',
  'growth',
  'platform',
  'data_science',
  'ops',
  'sales',
  'risk'
]
export const DOMAINS = ['ingest', 'transform', 'reporting', 'ml', 'exports', 'quality']
const VERBS = [
  'load',
  'sync',
  'refresh',
  'build',
  'score',
  'export',
  'audit',
  'backfill',
  'aggregate',
  'clean'
]
const NOUNS = [
  'orders',
  'customers',
  'events',
  'invoices',
  'sessions',
  'campaigns',
  'ledger',
  'inventory',
  'leads',
  'payments'
]
const CRONS = [
  '0 3 * * *',
  '*/15 * * * *',
  '30 6 * * 1-5',
  '0 */4 * * *',
  '@daily',
  '@hourly',
  '15 2 1 * *'
]

/**
 * Writes `count` files under `root` in `layout` ('team-domain' or 'nested') and returns their
 * relative paths, the DAG modules' among them, and the number of DAG folders.
 */
export function generateTree(root, count, { layout = 'team-domain' } = {}) {
  const rng = mulberry32(20240611)
  const pick = (list) => list[Math.floor(rng() * list.length)]
  const int = (min, max) => min + Math.floor(rng() * (max - min + 1))
  // Log-uniform sizes: most files are small, a few approach the upper bound.
  const size = (min, max) =>
    Math.round(Math.exp(Math.log(min) + rng() * (Math.log(max) - Math.log(min))))
  const written = []
  const dagModules = []
  const madeFolders = new Set()
  const write = (path, text) => {
    const folder = dirname(join(root, path))
    if (!madeFolders.has(folder)) {
      mkdirSync(folder, { recursive: true })
      madeFolders.add(folder)
    }
    writeFileSync(join(root, path), text)
    written.push(path)
  }

  write('.airflowignore', 'common/\n.*_test\\.py\nscratch/\n')
  const commonModules = [
    'hooks/warehouse',
    'hooks/slack',
    'operators/dbt',
    'operators/quality',
    'utils/dates',
    'utils/naming'
  ]
  write(
    'common/__init__.py',
    '"""Shared helpers imported by the DAGs (listed in .airflowignore)."""\n'
  )
  for (const module of commonModules)
    write(`common/${module}.py`, pythonHelper(module, size(300, 6000), rng))
  const folders = dagFolders(layout, count)
  for (const { team, domain, path } of folders) {
    write(`${path}/__init__.py`, `"""${team} ${domain} pipelines."""\n`)
  }

  for (let n = 0; written.length < count; n++) {
    const { team, domain, path: folder } = pick(folders)
    const name = `${pick(VERBS)}_${pick(NOUNS)}_${n}`
    const kind = rng()
    if (kind < 0.7) {
      const path = `${folder}/${name}.py`
      write(
        path,
        dagModule({
          team,
          domain,
          name,
          target: size(300, 20_000),
          cron: pick(CRONS),
          retries: int(0, 9),
          rng
        })
      )
      dagModules.push(path)
    } else if (kind < 0.9) {
      write(`${folder}/sql/${name}.sql`, sqlFile(name, size(200, 8000), rng))
    } else {
      write(`${folder}/config/${name}.yaml`, yamlFile(team, name, size(100, 3000), rng))
    }
  }
  return { files: written, dagModules, folders: folders.length }
}

/**
 * The folders DAGs go in. 'nested': folder i is team i mod 8, domain ⌊i/8⌋ mod 6, and a group
 * named after a noun (numbered once the nouns run out), so the groups spread evenly over the
 * 48 team/domain folders.
 */
function dagFolders(layout, count) {
  if (layout === 'team-domain') {
    return TEAMS.flatMap((team) =>
      DOMAINS.map((domain) => ({ team, domain, path: `${team}/${domain}` }))
    )
  }
  if (layout !== 'nested') throw new Error(`unknown tree layout '${layout}'`)
  const pairs = TEAMS.length * DOMAINS.length
  return Array.from({ length: Math.max(1, Math.round(count / FILES_PER_GROUP)) }, (_, i) => {
    const team = TEAMS[i % TEAMS.length]
    const domain = DOMAINS[Math.floor(i / TEAMS.length) % DOMAINS.length]
    const round = Math.floor(i / pairs)
    const noun = NOUNS[round % NOUNS.length]
    const group = round < NOUNS.length ? noun : `${noun}_${Math.floor(round / NOUNS.length) + 1}`
    return { team, domain, path: `${team}/${domain}/${group}` }
  })
}

function dagModule({ team, domain, name, target, cron, retries, rng }) {
  const dagId = `${team}_${domain}_${name}`
  let text = `"""${name.replace(/_/g, ' ')} for ${team}/${domain}."""
from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

default_args = {"owner": "${team}", "retries": ${retries}, "retry_delay": pendulum.duration(minutes=5)}

with DAG(
    dag_id="${dagId}",
    schedule="${cron}",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args=default_args,
    tags=["${team}", "${domain}"],
) as dag:
`
  const tasks = []
  while (text.length < target) {
    const task = `step_${tasks.length}`
    tasks.push(task)
    text += `    ${task} = SQLExecuteQueryOperator(
        task_id="${task}",
        conn_id="warehouse",
        sql="sql/${name}.sql",
        params={"partition": "{{ ds }}", "batch": ${Math.floor(rng() * 100_000)}},
    )
`
  }
  if (tasks.length > 1) text += `    ${tasks.join(' >> ')}\n`
  else text += '    pass\n'
  return text
}

function pythonHelper(module, target, rng) {
  let text = `"""common.${module.replace('/', '.')}"""\nfrom __future__ import annotations\n\n`
  for (let i = 0; text.length < target; i++) {
    text += `\ndef helper_${i}(value: int = ${Math.floor(rng() * 1000)}) -> int:\n    return value * ${i + 1}\n`
  }
  return text
}

function sqlFile(name, target, rng) {
  let text = `-- ${name}\nSELECT\n    id,\n    updated_at`
  for (let i = 0; text.length < target - 80; i++)
    text += `,\n    col_${i}_${Math.floor(rng() * 10_000)}`
  return `${text}\nFROM staging.${name}\nWHERE ds = '{{ ds }}'\n  AND updated_at >= '{{ prev_ds }}';\n`
}

function yamlFile(team, name, target, rng) {
  let text = `owner: ${team}\npipeline: ${name}\nsla_minutes: ${Math.floor(rng() * 240)}\ncolumns:\n`
  for (let i = 0; text.length < target; i++)
    text += `  - name: col_${i}\n    type: ${rng() < 0.5 ? 'string' : 'bigint'}\n`
  return text
}

/** A realistic one-character commit: bump the DAG's retries (0-9, so the size stays the same). */
export function sameSizeEdit(root, path) {
  const file = join(root, path)
  const before = readFileSync(file, 'utf8')
  const after = before.replace(
    /"retries": (\d)/,
    (_, digit) => `"retries": ${(Number(digit) + 1) % 10}`
  )
  if (after === before || Buffer.byteLength(after) !== Buffer.byteLength(before)) {
    throw new Error(`could not make a same-size edit in ${path}`)
  }
  writeFileSync(file, after)
}
