// The parallel listing against an in-memory model of ListObjectsV2, which can answer either as S3
// documents it or as moto does (the two differ on a delimiter listing that starts inside a
// folder). Random key sets, small pages and both answers: the folder-by-folder listing must give
// exactly the keys, in exactly the order, one sequential listing gives.
import { beforeEach, describe, expect, it } from '@jest/globals'
import {
  ListObjectsV2Command,
  S3Client,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput
} from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { createHash } from 'node:crypto'
import { createLimiter } from '../../src/common/concurrency.js'
import {
  after,
  byUtf8,
  cutIntoRuns,
  folderHolding,
  levelEntries,
  listUnderPrefix,
  type LevelEntry,
  type ListedObject
} from '../../src/common/s3-listing.js'

/** A small seeded generator (mulberry32), so every run tests the same key sets. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const s3Mock = mockClient(S3Client)
const s3 = new S3Client({ region: 'us-east-1' })
beforeEach(() => {
  s3Mock.reset()
})

/** S3's order: the keys' UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
const encode = (key: string) => encodeURIComponent(key).replace(/%20/g, '+')

interface StoreModel {
  /** Requests seen, and the most in flight at once. */
  requests: ListObjectsV2CommandInput[]
  maxInFlight: number
  answer(input: ListObjectsV2CommandInput): Promise<Partial<ListObjectsV2CommandOutput>>
}

/**
 * ListObjectsV2 over `keys`. `straddling: 's3'` names a folder that holds keys after StartAfter
 * even when its name sorts before it; 'moto' drops every entry whose name is not after it.
 */
function storeModel(
  keys: readonly string[],
  straddling: 's3' | 'moto' | 'ignores StartAfter'
): StoreModel {
  const sorted = [...new Set(keys)].sort(byBytes)
  const tokens = new Map<string, string>()
  const model: StoreModel = {
    requests: [],
    maxInFlight: 0,
    async answer(input) {
      model.requests.push(input)
      inFlight++
      model.maxInFlight = Math.max(model.maxInFlight, inFlight)
      // Let other requests start before this one answers, as a server would.
      await new Promise((resolve) => setImmediate(resolve))
      inFlight--
      const prefix = input.Prefix ?? ''
      // A continuation goes on after the last entry's name (a folder's skips all it holds).
      const continued = input.ContinuationToken !== undefined
      const after = continued
        ? tokens.get(input.ContinuationToken!)
        : straddling === 'ignores StartAfter'
          ? undefined
          : input.StartAfter
      const byName = continued || straddling === 'moto'
      const entries: { name: string; folder: boolean }[] = []
      for (const key of sorted) {
        if (!key.startsWith(prefix)) continue
        const cut = input.Delimiter === undefined ? -1 : key.indexOf(input.Delimiter, prefix.length)
        const name = cut === -1 ? key : key.slice(0, cut + 1)
        const folder = cut !== -1
        if (after !== undefined && byBytes(byName ? name : key, after) <= 0) continue
        const previous = entries.at(-1)
        if (folder && previous?.folder === true && previous.name === name) continue
        entries.push({ name, folder })
      }
      const size = input.MaxKeys ?? 1000
      const page = entries.slice(0, size)
      const truncated = entries.length > size
      let next: string | undefined
      if (truncated) {
        next = `token-${tokens.size}`
        tokens.set(next, page.at(-1)!.name)
      }
      return {
        EncodingType: 'url',
        Contents: page
          .filter((entry) => !entry.folder)
          .map((entry) => ({
            Key: encode(entry.name),
            Size: entry.name.length,
            ETag: `"${createHash('md5').update(entry.name).digest('hex')}"`
          })),
        CommonPrefixes: page
          .filter((entry) => entry.folder)
          .map((entry) => ({ Prefix: encode(entry.name) })),
        IsTruncated: truncated,
        ...(next !== undefined ? { NextContinuationToken: next } : {})
      }
    }
  }
  let inFlight = 0
  return model
}

function serve(model: StoreModel): void {
  s3Mock
    .on(ListObjectsV2Command)
    .callsFake((input: ListObjectsV2CommandInput) => model.answer(input))
}

/** The keys under `prefix` in S3's order: what any listing must return. */
const expected = (keys: readonly string[], prefix: string) =>
  [...new Set(keys)]
    .filter((key) => key.startsWith(prefix === '' ? '' : `${prefix}/`))
    .sort(byBytes)

const keysOf = (objects: readonly ListedObject[]) => objects.map((object) => object.key)

// Characters around '/' (0x2F) in byte order, a space and a plus (the encoding), a percent, and
// characters whose UTF-16 order differs from their UTF-8 order (U+E000, U+FFFD vs an emoji).
const ALPHABET = [
  'a',
  'b',
  'z',
  '0',
  '-',
  '.',
  ' ',
  '!',
  '+',
  '%',
  '~',
  'é',
  '\uE000',
  '\uFFFD',
  '😀'
]

function randomKeys(seed: number, count: number, prefix: string): string[] {
  const random = mulberry32(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const segment = () =>
    Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(ALPHABET)).join('')
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const depth = Math.floor(random() * random() * 6)
    const parts = Array.from({ length: depth + 1 }, segment)
    // Now and then a folder marker ("dir/"), an empty segment ("a//b"), or a neighbour prefix.
    const roll = random()
    const key =
      roll < 0.05
        ? `${parts.join('/')}/`
        : roll < 0.08
          ? parts.join('//')
          : roll < 0.12
            ? `${prefix}${pick(['-old', '0', '.bak'])}/${parts.join('/')}`
            : parts.join('/')
    keys.push(roll >= 0.08 && roll < 0.12 ? key : `${prefix}/${key}`)
  }
  return keys
}

describe('listUnderPrefix, folder by folder', () => {
  for (const straddling of ['s3', 'moto'] as const) {
    it(`gives one sequential listing's keys and order on random trees (${straddling} answers)`, async () => {
      for (let seed = 1; seed <= 40; seed++) {
        const keys = randomKeys(seed, 30 + seed * 5, 'dags')
        const pageSize = 1 + (seed % 7)
        const model = storeModel(keys, straddling)
        serve(model)
        const sequential = await listUnderPrefix(s3, 'b', 'dags', { pageSize })
        const parallel = await listUnderPrefix(s3, 'b', 'dags', { pageSize, concurrency: 4 })
        expect(keysOf(sequential)).toEqual(expected(keys, 'dags'))
        expect(keysOf(parallel)).toEqual(keysOf(sequential))
        expect(parallel).toEqual(sequential)
      }
    })
  }

  it('notices a store that ignores StartAfter, and reads it page after page instead', async () => {
    const keys = randomKeys(5, 200, 'dags')
    const model = storeModel(keys, 'ignores StartAfter')
    serve(model)
    const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 6, concurrency: 4 })
    expect(keysOf(listed)).toEqual(expected(keys, 'dags'))
    expect(model.requests.some((request) => request.StartAfter !== undefined)).toBe(true)
  })

  it('reads a level of many small folders in a few ranges, not a request per folder', async () => {
    const keys: string[] = []
    for (let folder = 0; folder < 100; folder++) {
      for (let file = 0; file < 10; file++) keys.push(`dags/f${1000 + folder}/x${file}.py`)
    }
    const model = storeModel(keys, 's3')
    serve(model)
    const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 100, concurrency: 8 })
    expect(keysOf(listed)).toEqual(expected(keys, 'dags'))
    // One page, the delimiter listing after it, then 8 ranges of about 110 keys (2 pages each):
    // 18 requests in 4 round trips, where one listing reads 10 pages one after another.
    expect(model.requests).toHaveLength(18)
    expect(model.maxInFlight).toBe(8)
  })

  it('takes a whole number of requests in flight, at least one', async () => {
    const keys = randomKeys(11, 150, 'dags')
    for (const concurrency of [0, -3, 2.5, Number.NaN]) {
      serve(storeModel(keys, 'moto'))
      const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 4, concurrency })
      expect(keysOf(listed)).toEqual(expected(keys, 'dags'))
    }
  })

  it('lists the whole bucket with prefix ""', async () => {
    const keys = randomKeys(99, 300, 'dags')
    serve(storeModel(keys, 's3'))
    const listed = await listUnderPrefix(s3, 'b', '', { pageSize: 4, concurrency: 8 })
    expect(keysOf(listed)).toEqual(expected(keys, ''))
  })

  it('reads a flat folder page after page, each key once', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `dags/dag_${String(i).padStart(4, '0')}.py`)
    const model = storeModel(keys, 's3')
    serve(model)
    const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 10, concurrency: 8 })
    expect(keysOf(listed)).toEqual(keys)
    // The first page, then the delimiter listing's 49 pages: nothing listed twice.
    expect(model.requests).toHaveLength(50)
  })

  it('splits a tree of folders, keeping the requests in flight at the limit', async () => {
    const keys: string[] = []
    for (let team = 0; team < 8; team++) {
      for (let file = 0; file < 60; file++) keys.push(`dags/team_${team}/dag_${file}.py`)
    }
    const model = storeModel(keys, 's3')
    serve(model)
    const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 50, concurrency: 3 })
    expect(keysOf(listed)).toEqual(expected(keys, 'dags'))
    expect(model.maxInFlight).toBe(3)
  })

  it('follows a deep chain of single folders down to a large leaf', async () => {
    const chain = Array.from({ length: 12 }, (_, i) => `level${i}`).join('/')
    const keys = [
      ...Array.from(
        { length: 12 },
        (_, i) => `dags/${chain.split('/').slice(0, i).join('/')}/x.py`
      ),
      ...Array.from({ length: 200 }, (_, i) => `dags/${chain}/leaf_${i}.py`)
    ].map((key) => key.replace('//', '/'))
    serve(storeModel(keys, 'moto'))
    const listed = await listUnderPrefix(s3, 'b', 'dags', { pageSize: 7, concurrency: 4 })
    expect(keysOf(listed)).toEqual(expected(keys, 'dags'))
  })

  it('lists in one request a prefix that fits one page', async () => {
    const model = storeModel(['dags/a.py', 'dags/b/c.py'], 's3')
    serve(model)
    await listUnderPrefix(s3, 'b', 'dags', { concurrency: 16 })
    expect(model.requests).toEqual([
      expect.objectContaining({ Prefix: 'dags/', EncodingType: 'url', Delimiter: undefined })
    ])
  })

  it('fails with the first error and sends no request queued behind it', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `dags/f${i}/a.py`)
    const model = storeModel(keys, 's3')
    serve(model)
    await listUnderPrefix(s3, 'b', 'dags', { pageSize: 5, concurrency: 2 })
    const whole = model.requests.length
    let calls = 0
    s3Mock.on(ListObjectsV2Command).callsFake(async (input: ListObjectsV2CommandInput) => {
      calls++
      // The tenth request, while the two runs read their ranges side by side.
      if (calls === 10) throw Object.assign(new Error('slow down'), { name: 'SlowDown' })
      return model.answer(input)
    })
    await expect(listUnderPrefix(s3, 'b', 'dags', { pageSize: 5, concurrency: 2 })).rejects.toThrow(
      'slow down'
    )
    const sent = calls
    // Requests still queued when the error came are dropped rather than sent.
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls).toBe(sent)
    expect(calls).toBeLessThan(whole)
    expect(whole).toBeGreaterThan(12)
  })
})

describe('byUtf8', () => {
  it('orders as the UTF-8 bytes do, surrogate pairs included', () => {
    const random = mulberry32(7)
    const samples = Array.from({ length: 2000 }, () =>
      Array.from(
        { length: 1 + Math.floor(random() * 4) },
        () => ALPHABET[Math.floor(random() * ALPHABET.length)]
      ).join('')
    )
    expect([...samples].sort(byUtf8)).toEqual([...samples].sort(byBytes))
    // Where UTF-16 and UTF-8 disagree: U+FFFD before an emoji in bytes, after it in code units.
    expect(byUtf8('\uFFFD', '😀')).toBeLessThan(0)
    expect('\uFFFD' < '😀').toBe(false)
  })
})

describe('level entries and runs', () => {
  const file = (key: string): LevelEntry => ({ name: key, file: { key, size: 0 } })
  const folder = (name: string): LevelEntry => ({ name })
  const names = (runs: LevelEntry[][]) => runs.map((run) => run.map((entry) => entry.name))

  it("interleaves a level's files and folders in key order, the straddling folder first", () => {
    const entries = levelEntries(
      {
        objects: [
          { key: 'd/a-b.py', size: 1 },
          { key: 'd/a.py', size: 2 },
          { key: 'd/a0.py', size: 3 }
        ],
        folders: ['d/a/', 'd/b/', 'd/0/']
      },
      'd/0/'
    )
    expect(entries.map((entry) => entry.name)).toEqual([
      'd/0/',
      'd/a-b.py',
      'd/a.py',
      'd/a/',
      'd/a0.py',
      'd/b/'
    ])
    expect(entries[2]?.file).toEqual({ key: 'd/a.py', size: 2 })
  })

  it('starts the next run after a file, or after every key a folder can hold', () => {
    expect(after(file('d/a.py'))).toBe('d/a.py')
    expect(after(folder('d/a/'))).toBe('d/a0')
    // Every key in d/a/ sorts before it, and the folder after d/a/ (here d/a0/) after it.
    for (const key of ['d/a/', 'd/a/\u{10FFFF}\u{10FFFF}', 'd/a//x', 'd/a/~~~~']) {
      expect(byUtf8(key, 'd/a0')).toBeLessThan(0)
    }
    expect(byUtf8('d/a0', 'd/a0/x.py')).toBeLessThan(0)
  })

  it('cuts entries into runs of about equal length, never starting a run at a file after a folder', () => {
    const entries = [
      folder('d/a/'),
      folder('d/b/'),
      file('d/c.py'),
      file('d/d.py'),
      folder('d/e/'),
      folder('d/f/')
    ]
    expect(names(cutIntoRuns(entries, 3))).toEqual([
      ['d/a/', 'd/b/', 'd/c.py'],
      ['d/d.py'],
      ['d/e/', 'd/f/']
    ])
    expect(names(cutIntoRuns(entries, 1))).toEqual([entries.map((entry) => entry.name)])
    expect(cutIntoRuns(entries, 6).every((run) => run.length >= 1)).toBe(true)
    expect(cutIntoRuns(entries, 6).flat()).toEqual(entries)
    expect(cutIntoRuns([], 4)).toEqual([])
  })

  it('names the folder below the prefix that holds a key', () => {
    expect(folderHolding('d/', 'd/a/b/c.py')).toBe('d/a/')
    expect(folderHolding('d/', 'd/top.py')).toBeUndefined()
    expect(folderHolding('', 'a/b.py')).toBe('a/')
    expect(folderHolding('d/', 'd//x')).toBe('d//')
  })
})

describe('createLimiter', () => {
  it('never runs more than the limit at once and runs every task', async () => {
    const limit = createLimiter(2)
    let running = 0
    let most = 0
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        limit(async () => {
          running++
          most = Math.max(most, running)
          await new Promise((resolve) => setImmediate(resolve))
          running--
          return i
        })
      )
    )
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(most).toBe(2)
  })
})
