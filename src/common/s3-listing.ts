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
   * large prefix into its folders and lists them side by side.
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
 * fit one page is split where its keys split, at its folders: a delimiter listing names them, and
 * each is listed (and split again when large) concurrently. A flat folder has nothing to split
 * and is read page after page, as before.
 */
export async function listUnderPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string,
  options: ListingOptions = {}
): Promise<ListedObject[]> {
  const folder = prefix === '' ? '' : `${prefix}/`
  const concurrency = options.concurrency ?? 1
  const lister = new Lister(s3, bucket, options.pageSize, createLimiter(concurrency))
  return concurrency <= 1 ? lister.sequential(folder) : lister.folder(folder)
}

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

class Lister {
  private failure: unknown

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly pageSize: number | undefined,
    private readonly limit: Limiter
  ) {}

  /** Every object under `prefix`, one page after another. */
  async sequential(prefix: string): Promise<ListedObject[]> {
    return (await this.allPages({ prefix })).objects
  }

  /**
   * Every object under `prefix` after `startAfter`. The first page is a plain listing, so a small
   * folder costs one request. When it does not hold everything, the rest is split by folder: the
   * keys up to the page's last one are done, and a delimiter listing after that key names the
   * files at this level and the folders below it.
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
    const folders = level.folders.filter((name) => name !== straddling)
    if (straddling !== undefined) folders.unshift(straddling)
    const below = await Promise.all(
      folders.map((name) => this.folder(name, name === straddling ? last : undefined))
    )
    return [...first.objects, ...inKeyOrder(level.objects, folders, below)]
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
    const continuation = page.IsTruncated === true ? page.NextContinuationToken : undefined
    return { objects, folders, ...(continuation !== undefined ? { continuation } : {}) }
  }
}

/** The folder directly under `prefix` that holds `key`, or undefined for a key at that level. */
export function folderHolding(prefix: string, key: string): string | undefined {
  const end = key.indexOf(DELIMITER, prefix.length)
  return end === -1 ? undefined : key.slice(0, end + 1)
}

/**
 * One level's files and its folders' listings, interleaved as one listing of the level orders
 * them. A file's key never starts with a folder's name (it would be in that folder), so comparing
 * the key with the name places the folder's whole listing.
 */
export function inKeyOrder(
  files: readonly ListedObject[],
  folders: readonly string[],
  listed: readonly (readonly ListedObject[])[]
): ListedObject[] {
  const merged: ListedObject[] = []
  let f = 0
  let d = 0
  while (f < files.length || d < folders.length) {
    const file = files[f]
    const folder = folders[d]
    if (file !== undefined && (folder === undefined || byUtf8(file.key, folder) < 0)) {
      merged.push(file)
      f++
    } else {
      // A loop rather than push(...list): a folder of 100,000 keys is too many arguments.
      for (const object of listed[d] ?? []) merged.push(object)
      d++
    }
  }
  return merged
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
