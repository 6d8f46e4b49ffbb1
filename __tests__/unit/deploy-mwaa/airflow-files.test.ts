import { describe, expect, it } from '@jest/globals'
import {
  ignoredByAirflow,
  ignoreSyntaxOf,
  mightHoldDag
} from '../../../src/deploy-mwaa/airflow-files.js'

describe('mightHoldDag', () => {
  it('needs both words, in any case, as Airflow safe mode does', () => {
    expect(mightHoldDag(Buffer.from('from airflow import DAG\n'))).toBe(true)
    expect(mightHoldDag(Buffer.from('import AIRFLOW\n# Dag\n'))).toBe(true)
    expect(mightHoldDag(Buffer.from('def table_for(entity):\n    return entity\n'))).toBe(false)
    expect(mightHoldDag(Buffer.from('# a dag helper\n'))).toBe(false)
  })
})

describe('ignoreSyntaxOf', () => {
  it('is regexp for Airflow 2 and glob from Airflow 3', () => {
    expect(ignoreSyntaxOf('2.10.3')).toBe('regexp')
    expect(ignoreSyntaxOf(undefined)).toBe('regexp')
    expect(ignoreSyntaxOf('3.0.6')).toBe('glob')
  })
})

describe('ignoredByAirflow', () => {
  const top = { folder: '', text: 'helpers/\n# comment\nlegacy_.*\\.py  # old ones\n' }

  it('matches regexp patterns against the folders on the way and the file', () => {
    expect(ignoredByAirflow('helpers/naming.py', [top], 'regexp')).toBe(true)
    expect(ignoredByAirflow('legacy_sales.py', [top], 'regexp')).toBe(true)
    expect(ignoredByAirflow('sub/legacy_sales.py', [top], 'regexp')).toBe(true)
    expect(ignoredByAirflow('sales.py', [top], 'regexp')).toBe(false)
  })

  it('applies a nested .airflowignore to its own folder, relative to it', () => {
    const nested = { folder: 'team', text: '^scratch' }
    expect(ignoredByAirflow('team/scratch.py', [nested], 'regexp')).toBe(true)
    expect(ignoredByAirflow('scratch.py', [nested], 'regexp')).toBe(false)
    expect(ignoredByAirflow('other/team/scratch.py', [nested], 'regexp')).toBe(false)
  })

  it('matches glob patterns as gitignore does, and skips a pattern that does not compile', () => {
    const globs = { folder: '', text: 'helpers\n*_test.py\n' }
    expect(ignoredByAirflow('helpers/naming.py', [globs], 'glob')).toBe(true)
    expect(ignoredByAirflow('sales_test.py', [globs], 'glob')).toBe(true)
    expect(ignoredByAirflow('sales.py', [globs], 'glob')).toBe(false)
    expect(ignoredByAirflow('a.py', [{ folder: '', text: '(unclosed' }], 'regexp')).toBe(false)
  })
})
