import { describe, expect, it } from '@jest/globals'
import { dagChangesIn } from '../../../src/deploy-mwaa/dag-changes.js'

describe('dagChangesIn', () => {
  it('keeps the uploaded keys of the DAG folder as paths in it', () => {
    expect(
      dagChangesIn(
        {
          uploaded: ['dags/a.py', 'dags/sub/b.py', 'dags-old/c.py', 'plugins.zip'],
          deleted: ['dags/x.py']
        },
        'dags'
      )
    ).toEqual({
      uploaded: ['a.py', 'sub/b.py'],
      elsewhere: ['dags-old/c.py', 'plugins.zip'],
      truncated: false
    })
  })

  it('reads a DAG folder given with slashes, and a shortened list', () => {
    expect(dagChangesIn({ uploaded: ['dags/a.py'], truncated: true }, '/dags/')).toEqual({
      uploaded: ['a.py'],
      elsewhere: [],
      truncated: true
    })
  })

  it('refuses a document without an uploaded list, naming the input', () => {
    expect(() => dagChangesIn({ deleted: [] }, 'dags')).toThrow(
      'dag-changes: has no "uploaded" list of keys'
    )
    expect(() => dagChangesIn({ uploaded: [1] }, 'dags')).toThrow('dag-changes')
  })
})
