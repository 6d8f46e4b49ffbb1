// The README's "Required checks" names what to type into branch protection. GitHub matches those
// names exactly, so a renamed job would leave a required check waiting forever: each name there
// must be one GitHub shows for the example callers as the workflows stand.
import { describe, expect, test } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { repoRoot } from '../../scripts/lint-workflows.mjs'

type Mapping = Record<string, unknown>
const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8')

function jobsOf(path: string): Record<string, Mapping> {
  const workflow: unknown = parseYaml(read(path))
  if (!isMapping(workflow) || !isMapping(workflow.jobs)) throw new Error(`${path} has no jobs`)
  return workflow.jobs as Record<string, Mapping>
}

const displayName = (id: string, job: Mapping) => (typeof job.name === 'string' ? job.name : id)

/** `<caller job> / <called job>` for every job of every reusable workflow of ours it calls. */
function checkNames(caller: string): string[] {
  const names: string[] = []
  for (const [id, job] of Object.entries(jobsOf(caller))) {
    const called = /\/(\.github\/workflows\/[\w.-]+\.yml)@/.exec(String(job.uses ?? ''))?.[1]
    if (called === undefined) continue
    for (const [calledId, calledJob] of Object.entries(jobsOf(called))) {
      names.push(`${displayName(id, job)} / ${displayName(calledId, calledJob)}`)
    }
  }
  return names.sort()
}

/** Each row of the section's table: the check names of its first cell, by the caller it names. */
function readmeRows(): { names: string[]; caller: string; required: boolean }[] {
  const readme = read('README.md')
  const start = readme.indexOf('\n### Required checks\n')
  expect(start).toBeGreaterThan(0)
  const section = readme.slice(start + 1, readme.indexOf('\n### ', start + 1))
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [checks, caller, requirement] = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim())
      return {
        names: [...(checks ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1] as string),
        caller: (caller ?? '').replace(/^`|`$/g, ''),
        required: (requirement ?? '').startsWith('Yes')
      }
    })
}

const triggers = (path: string): string[] => {
  const workflow = parseYaml(read(path)) as Mapping
  const on = workflow.on
  return typeof on === 'string' ? [on] : Array.isArray(on) ? on : Object.keys(on as Mapping)
}

describe('README: Required checks', () => {
  const rows = readmeRows()
  const callers = [...new Set(rows.map((row) => row.caller))].sort()

  test('covers the example callers of dags-check.yml and deploy-app.yml', () => {
    expect(callers).toEqual([
      'examples/workflows/dags-check.yml',
      'examples/workflows/deploy-app.yml'
    ])
  })

  test.each(callers)('names every check of %s, as GitHub shows it', (caller) => {
    const named = rows.filter((row) => row.caller === caller).flatMap((row) => row.names)
    expect(named.sort()).toEqual(checkNames(caller))
  })

  test('requires only checks that run on a pull request', () => {
    // The plan comment runs on pull requests but vouches for nothing: a fork's cannot comment.
    const vouchesForNothing = ['check / Plan comment']
    for (const row of rows) {
      expect({ caller: row.caller, names: row.names, required: row.required }).toEqual({
        caller: row.caller,
        names: row.names,
        required:
          triggers(row.caller).includes('pull_request') &&
          !row.names.some((name) => vouchesForNothing.includes(name))
      })
    }
  })

  test('the plan it says is skipped for a fork is skipped by its if:', () => {
    const plan = Object.values(jobsOf('.github/workflows/dags-check.yml')).find(
      (job) => job.name === 'Deploy plan'
    )
    expect(String(plan?.if)).toContain(
      'github.event.pull_request.head.repo.full_name == github.repository'
    )
  })
})
