import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { createLimiter, type Limiter } from './concurrency.js'
import { decodeListedKey } from './s3-location.js'

/** One object of a listing, its key decoded. */
export interface ListedObject {
  key: string
  size: number
  /** As S3 gives it, quotes included. */
  etag?: string
}

export interface ListingOptions {
  /**
   * ListObjectsV2 requests in flight at once. 1 reads the pages one after another; more splits a
   * large prefix at its folders and lists the parts side by side.
   */
  concurrency?: number
  /** Keys a page holds (S3's MaxKeys); S3's own default, 1,000, unless a test needs small pages. */
  pageSize?: number
}

/**
 * Every object under the prefix ('' for the whole bucket), in the order one sequential listing
 * gives them (UTF-8 byte order). XML 1.0 cannot carry every character a key may hold (a CR comes
 * back as a LF), so the keys are asked for URL-encoded and decoded here; the SDK leaves them
 * encoded. A store that ignores the encoding gives them as they are, and says so by leaving
 * EncodingType out.
 *
 * Each page of one listing waits for the page before it (the continuation token), so a prefix of
 * 20,000 objects is 20 round trips end to end. With `concurrency` above 1, a prefix that does not
 * fit one page is split where its keys split, at its folders (see Lister.folder), and the parts
 * are listed side by side. A flat folder has nothing to split: its delimiter listing, page after
 * page, holds every key. The split relies on StartAfter and on pages in UTF-8 byte order, as S3
 * gives them; a store that keeps neither (S3 directory buckets, some S3-compatible stores) is
 * noticed by the order of the keys it returns, and then read page after page.
 */
export async function listUnderPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string,
  options: ListingOptions = {}
): Promise<ListedObject[]> {
  const folder = prefix === '' ? '' : `${prefix}/`
  const asked = options.concurrency ?? 1
  const concurrency = Number.isFinite(asked) ? Math.max(1, Math.floor(asked)) : 1
  if (concurrency === 1) return new Lister(s3, bucket, options.pageSize, 1).sequential(folder)
  try {
    return await new Lister(s3, bucket, options.pageSize, concurrency).folder(folder)
  } catch (error) {
    if (!(error instanceof OrderNotKept)) throw error
    return new Lister(s3, bucket, options.pageSize, 1).sequential(folder)
  }
}

/** A page whose keys are not after StartAfter, or not in UTF-8 byte order. */
class OrderNotKept extends Error {}

interface Page {
  objects: ListedObject[]
  /** Common prefixes (with the trailing delimiter), decoded; only for a delimiter listing. */
  folders: string[]
  /** Where the next page starts, when the listing goes on. */
  continuation?: string
}

interface PageRequest {
  prefix: string
  delimiter?: boolean
  startAfter?: string
  continuation?: string
}

const DELIMITER = '/'
const S3_PAGE_SIZE = 1000

/** What a delimiter listing names at one level: a file (its object) or a folder (its name). */
export interface LevelEntry {
  name: string
  file?: ListedObject
}

/**
 * A level's files and folders in key order, with the folder holding the key the level's listing
 * started after first (it may hold more keys after it, and its name sorts before that key).
 */
export function levelEntries(
  level: { objects: readonly ListedObject[]; folders: readonly string[] },
  straddling?: string
): LevelEntry[] {
  const entries: LevelEntry[] = straddling === undefined ? [] : [{ name: straddling }]
  const folders = level.folders.filter((name) => name !== straddling)
  let f = 0
  let d = 0
  while (f < level.objects.length || d < folders.length) {
    const file = level.objects[f]
    const folder = folders[d]
    if (file !== undefined && (folder === undefined || byUtf8(file.key, folder) < 0)) {
      entries.push({ name: file.key, file })
      f++
    } else {
      entries.push({ name: folder as string })
      d++
    }
  }
  return entries
}

/**
 * Where the listing of the run after `entry` starts: after the file, or after every key of the
 * folder. A folder's keys all begin with its name, `…/`; the name with its final `/` turned into
 * `0`, the next character, sorts after all of them. Nothing else lies between the two but a
 * file named exactly that (`a/` then `a0`), which cutIntoRuns keeps in the folder's run; any
 * other key there would be an entry of the level between them.
 */
export function after(entry: LevelEntry): string {
  return entry.file !== undefined ? entry.name : `${entry.name.slice(0, -1)}0`
}

/**
 * The entries cut into at most `count` runs of about equal length, in order. A run never starts
 * with a file right after a folder: the start after a folder (see `after`) would skip a file
 * named like the folder with `0` for its `/`, so such a file stays with the run before it.
 */
export function cutIntoRuns(entries: readonly LevelEntry[], count: number): LevelEntry[][] {
  const runs: LevelEntry[][] = []
  let start = 0
  const parts = Math.max(1, Math.floor(count))
  for (let i = 1; i <= parts && start < entries.length; i++) {
    let end = i === parts ? entries.length : Math.round((entries.length * i) / parts)
    if (end <= start) continue
    while (
      end < entries.length &&
      entries[end]?.file !== undefined &&
      entries[end - 1]?.file === undefined
    ) {
      end++
    }
    runs.push(entries.slice(start, end))
    start = end
  }
  return runs
}

class Lister {
  private failure: unknown

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly pageSize: number | undefined,
    private readonly concurrency: number
  ) {
    this.limit = createLimiter(concurrency)
  }

  private readonly limit: Limiter

  /** Every object under `prefix`, one page after another. */
  async sequential(prefix: string): Promise<ListedObject[]> {
    return (await this.allPages({ prefix })).objects
  }

  /**
   * Every object under `prefix` after `startAfter`. The first page is a plain listing, so a small
   * folder costs one request. When it does not hold everything, the keys up to the page's last
   * one are done, and a delimiter listing after that key names what is left at this level: files
   * and folders, in key order. Those entries are cut into runs listed side by side: a run of one
   * folder is split again the same way, a run of several is one range of plain pages, and a run
   * of files alone is already known.
   */
  async folder(prefix: string, startAfter?: string): Promise<ListedObject[]> {
    const first = await this.page({ prefix, startAfter })
    if (first.continuation === undefined) return first.objects
    const last = first.objects.at(-1)?.key
    // A truncated page without keys gives nothing to split after; read on in order.
    if (last === undefined) return (await this.allPages({ prefix, startAfter }, first)).objects

    const level = await this.allPages({ prefix, delimiter: true, startAfter: last })
    // The folder holding the last key may have more keys after it. S3 names such a folder in a
    // listing that starts after the key; moto, comparing the folder's name with the key, does
    // not. Listing it after the key is right either way.
    const straddling = folderHolding(prefix, last)
    const entries = levelEntries(level, straddling)
    const runs = cutIntoRuns(entries, this.runCount(prefix, first.objects, entries.length))
    const listed = await Promise.all(
      runs.map((run, i) => {
        const only = run.length === 1 ? run[0] : undefined
        if (run.every((entry) => entry.file !== undefined)) {
          return run.map((entry) => entry.file as ListedObject)
        }
        if (only !== undefined)
          return this.folder(only.name, only.name === straddling ? last : undefined)
        const previous = runs[i - 1]?.at(-1)
        return this.range(
          prefix,
          previous === undefined ? last : after(previous),
          runs[i + 1]?.[0]?.name
        )
      })
    )
    const objects = [...first.objects]
    for (const part of listed) for (const object of part) objects.push(object)
    return objects
  }

  /**
   * How many runs to list the rest of a folder in: about two a page, judged by how many entries
   * of this level the first page touched, so a level of small folders is read in a few ranges
   * rather than a request per folder; at least one, at most one per entry and `concurrency`.
   */
  private runCount(prefix: string, firstPage: readonly ListedObject[], entries: number): number {
    const touched = new Set(firstPage.map(({ key }) => folderHolding(prefix, key) ?? key)).size
    const keysPerEntry = firstPage.length / Math.max(1, touched)
    const pages = (entries * keysPerEntry) / (this.pageSize ?? S3_PAGE_SIZE)
    return Math.max(1, Math.min(entries, this.concurrency, Math.ceil(pages * 2)))
  }

  /** The keys under `prefix` after `startAfter` and before `end` (to the end when undefined). */
  private async range(prefix: string, startAfter: string, end?: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = []
    let continuation: string | undefined
    do {
      const page = await this.page({ prefix, startAfter, continuation })
      keptInOrder(
        page.objects.slice(0, 1).map((object) => object.key),
        objects.at(-1)?.key
      )
      for (const object of page.objects) {
        // The next run lists the rest; whatever this page read past its start is not kept.
        if (end !== undefined && byUtf8(object.key, end) >= 0) return objects
        objects.push(object)
      }
      continuation = page.continuation
    } while (continuation !== undefined)
    return objects
  }

  /** Every page of one listing, joined; `first` when it has been read already. */
  private async allPages(request: PageRequest, first?: Page): Promise<Page> {
    let page = first ?? (await this.page(request))
    const objects = [...page.objects]
    const folders = [...page.folders]
    while (page.continuation !== undefined) {
      page = await this.page({ ...request, continuation: page.continuation })
      objects.push(...page.objects)
      folders.push(...page.folders)
    }
    return { objects, folders }
  }

  private async page(request: PageRequest): Promise<Page> {
    return this.limit(async () => {
      // After one request failed the listing has failed; queued requests are not sent.
      if (this.failure !== undefined) throw this.failure
      try {
        return await this.send(request)
      } catch (error) {
        this.failure ??= error
        throw error
      }
    })
  }

  private async send(request: PageRequest): Promise<Page> {
    const page = await this.s3.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: request.prefix === '' ? undefined : request.prefix,
        Delimiter: request.delimiter === true ? DELIMITER : undefined,
        // A continuation token carries its own position; S3 ignores StartAfter next to it.
        StartAfter: request.continuation === undefined ? request.startAfter : undefined,
        ContinuationToken: request.continuation,
        MaxKeys: this.pageSize,
        EncodingType: 'url'
      })
    )
    const decode = page.EncodingType === 'url' ? decodeListedKey : (key: string) => key
    const objects: ListedObject[] = []
    for (const item of page.Contents ?? []) {
      if (item.Key === undefined) continue
      objects.push({
        key: decode(item.Key),
        size: item.Size ?? 0,
        ...(item.ETag !== undefined ? { etag: item.ETag } : {})
      })
    }
    const folders: string[] = []
    for (const common of page.CommonPrefixes ?? []) {
      if (common.Prefix !== undefined) folders.push(decode(common.Prefix))
    }
    if (this.concurrency > 1) {
      keptInOrder(
        objects.map((object) => object.key),
        request.continuation === undefined ? request.startAfter : undefined
      )
    }
    const continuation = page.IsTruncated === true ? page.NextContinuationToken : undefined
    return { objects, folders, ...(continuation !== undefined ? { continuation } : {}) }
  }
}

/**
 * Splitting needs what S3 does: a listing starts after StartAfter and gives keys in UTF-8 byte
 * order. A store that does otherwise would make a range stop early or repeat keys.
 */
function keptInOrder(keys: readonly string[], after: string | undefined): void {
  let previous = after
  for (const key of keys) {
    if (previous !== undefined && byUtf8(previous, key) >= 0) throw new OrderNotKept()
    previous = key
  }
}

/** The folder directly under `prefix` that holds `key`, or undefined for a key at that level. */
export function folderHolding(prefix: string, key: string): string | undefined {
  const end = key.indexOf(DELIMITER, prefix.length)
  return end === -1 ? undefined : key.slice(0, end + 1)
}

/**
 * Orders strings as their UTF-8 bytes order, which is S3's listing order. JavaScript compares
 * UTF-16 code units, which differ in one place: a character above U+FFFF (a surrogate pair,
 * 0xD800-0xDFFF) sorts before U+E000-U+FFFF there, and after them in UTF-8.
 */
export function byUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800 && y >= 0xd800) return utf8Rank(x) - utf8Rank(y)
    return x - y
  }
  return a.length - b.length
}

/** For code units from 0xD800: surrogates moved after U+E000-U+FFFF. */
const utf8Rank = (unit: number): number => (unit >= 0xe000 ? unit - 0x800 : unit + 0x2000)
