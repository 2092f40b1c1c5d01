/**
 * A content-addressed blob directory, laid out as in an OCI image layout (`blobs/<alg>/<hex>`), so
 * the layer cache and an OCI layout share one format and blobs move between them by hard link.
 *
 * Every write goes to a temp file in the destination directory and is renamed into place only after
 * its digest is known (and checked, when one was expected): a reader never sees a half-written or
 * corrupt blob under a digest name, even if ferry is killed mid-write. Temp files start with `.tmp-`
 * and may be left behind by a crash; they are never read.
 */
import { randomBytes, createHash, type Hash } from 'node:crypto';
import { constants as fsc, type ReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ExitCode, FerryError, dataError } from '../core/errors.js';
import { Digest, type DigestAlgorithm } from './digest.js';

export interface BlobWriteOptions {
  /** Refuse to commit unless the content hashes to this (its algorithm is used). */
  expectedDigest?: string;
  /** Refuse more bytes than this as soon as they arrive, and fewer at the end. */
  expectedSize?: number;
  /** Hash algorithm when no digest is expected; sha256 by default. */
  algorithm?: DigestAlgorithm;
  /** For messages: "layer 2 of registry.example.com/team/app". */
  what?: string;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export type CopyOutcome = 'present' | 'linked' | 'copied';

/** errno codes after which a hard link cannot work here but a copy can. */
const LINK_FALLBACK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'EACCES', 'ENOSYS']);

export class BlobStore {
  constructor(readonly root: string) {}

  /** Where a blob lives (whether or not it is there). The digest is validated, so no path escapes. */
  path(digest: Digest | string): string {
    const d = typeof digest === 'string' ? Digest.parse(digest) : digest;
    return join(this.root, 'blobs', d.algorithm, d.hex);
  }

  /** Whether the blob is stored (and has `size` bytes, when given). */
  async has(digest: Digest | string, size?: number): Promise<boolean> {
    const s = await this.size(digest);
    return s !== undefined && (size === undefined || s === size);
  }

  async size(digest: Digest | string): Promise<number | undefined> {
    try {
      const st = await stat(this.path(digest));
      return st.isFile() ? st.size : undefined;
    } catch (e) {
      if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return undefined;
      throw storeError('read', this.path(digest), e);
    }
  }

  /** A stream of the blob's content; IMAGE_BLOB_NOT_FOUND if it is not stored. */
  async open(digest: Digest | string, range: { start?: number; end?: number } = {}): Promise<ReadStream> {
    const p = this.path(digest);
    let fh: FileHandle;
    try {
      fh = await open(p, fsc.O_RDONLY);
    } catch (e) {
      throw errnoCode(e) === 'ENOENT' ? notFound(digest, this.root, e) : storeError('read', p, e);
    }
    // Opening first turns a missing blob into a clear error here, not an 'error' event later.
    return fh.createReadStream({ highWaterMark: 1 << 20, ...range });
  }

  /** Read a small blob whole (manifest, config), checking its digest and a size bound. */
  async readBytes(digest: Digest | string, maxBytes: number): Promise<Buffer> {
    const d = typeof digest === 'string' ? Digest.parse(digest) : digest;
    const size = await this.size(d);
    if (size === undefined) throw notFound(d, this.root);
    if (size > maxBytes) {
      throw dataError('IMAGE_BLOB_TOO_LARGE', `blob ${d.toString()} is ${size} bytes, more than the ${maxBytes} expected`, { where: this.root });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(d));
    } catch (e) {
      throw storeError('read', this.path(d), e);
    }
    const got = Digest.of(bytes, d.algorithm);
    if (!got.equals(d)) throw mismatch(`blob in ${this.root}`, d, got);
    return bytes;
  }

  /**
   * A writable that stores what is written under its digest. The blob is committed (renamed into
   * place) before 'finish', so after `await pipeline(source, writer)` it is there; `writer.result()`
   * tells its digest and size. On error or destroy the temp file is removed.
   */
  writeStream(opts: BlobWriteOptions = {}): BlobWriter {
    return new BlobWriter(this, opts);
  }

  async writeFrom(source: Readable | AsyncIterable<Uint8Array>, opts: BlobWriteOptions = {}): Promise<BlobInfo> {
    const w = this.writeStream(opts);
    try {
      await pipeline(source, w);
    } catch (e) {
      await w.whenClosed();
      throw e;
    }
    return w.result();
  }

  async putBytes(bytes: Uint8Array, opts: BlobWriteOptions = {}): Promise<BlobInfo> {
    const d = opts.expectedDigest === undefined ? Digest.of(bytes, opts.algorithm ?? 'sha256') : Digest.parse(opts.expectedDigest);
    // Small blobs (configs, manifests) are often written again with the same content: skip the I/O.
    if (await this.has(d, bytes.byteLength)) {
      const got = Digest.of(bytes, d.algorithm);
      if (!got.equals(d)) throw mismatch(opts.what ?? 'blob', d, got);
      return { digest: d, size: bytes.byteLength };
    }
    const w = this.writeStream({ ...opts, expectedDigest: d.toString() });
    try {
      await pipeline(Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]), w);
    } catch (e) {
      await w.whenClosed();
      throw e;
    }
    return w.result();
  }

  /**
   * Put a blob of this store into another one: a hard link when both are on one file system (no
   * bytes copied, which matters for gigabyte layers), else a copy (reflink where the file system
   * offers it). Blobs are never modified in place, so sharing an inode is safe.
   */
  async copyTo(target: BlobStore, digest: Digest | string): Promise<CopyOutcome> {
    const d = typeof digest === 'string' ? Digest.parse(digest) : digest;
    const src = this.path(d);
    const dst = target.path(d);
    if (await target.has(d)) return 'present';
    await ensureDir(dirname(dst));
    try {
      await link(src, dst);
      return 'linked';
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EEXIST') return 'present';
      if (code === 'ENOENT') throw notFound(d, this.root, e);
      if (code === undefined || !LINK_FALLBACK.has(code)) throw storeError('link', dst, e);
    }
    const tmp = tempName(dst);
    try {
      await copyFile(src, tmp, fsc.COPYFILE_FICLONE);
      await rename(tmp, dst);
      return 'copied';
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      if (errnoCode(e) === 'ENOENT') throw notFound(d, this.root, e);
      throw storeError('copy', dst, e);
    }
  }

  async remove(digest: Digest | string): Promise<void> {
    await unlink(this.path(digest)).catch((e: unknown) => {
      if (errnoCode(e) !== 'ENOENT') throw storeError('remove', this.path(digest), e);
    });
  }
}

/** See BlobStore.writeStream. */
export class BlobWriter extends Writable {
  readonly #store: BlobStore;
  readonly #expected: Digest | undefined;
  readonly #expectedSize: number | undefined;
  readonly #algorithm: DigestAlgorithm;
  readonly #what: string;
  readonly #hash: Hash;
  #bytes = 0;
  #dir = '';
  #tmp: string | undefined;
  #fh: FileHandle | undefined;
  #result: BlobInfo | undefined;

  constructor(store: BlobStore, opts: BlobWriteOptions) {
    super({ highWaterMark: 1 << 20 });
    this.#store = store;
    this.#expected = opts.expectedDigest === undefined ? undefined : Digest.parse(opts.expectedDigest);
    this.#algorithm = this.#expected?.algorithm ?? opts.algorithm ?? 'sha256';
    this.#expectedSize = opts.expectedSize;
    this.#what = opts.what ?? 'blob';
    this.#hash = createHash(this.#algorithm);
  }

  /** Digest and size of the committed blob; only after 'finish'. */
  result(): BlobInfo {
    if (this.#result === undefined) throw new Error('BlobWriter.result() called before the blob was committed');
    return this.#result;
  }

  /**
   * Resolves once the writer is closed and, after a failure, its temp file removed. A pipeline can
   * reject before that; await this before relying on the directory's contents.
   */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.once('close', () => {
        resolve();
      });
    });
  }

  get bytesWritten(): number {
    return this.#bytes;
  }

  override _construct(cb: (error?: Error | null) => void): void {
    this.#dir = join(this.#store.root, 'blobs', this.#algorithm);
    const tmp = join(this.#dir, `.tmp-${randomBytes(12).toString('hex')}`);
    ensureDir(this.#dir)
      .then(() => open(tmp, 'wx', 0o644))
      .then(
        (fh) => {
          this.#fh = fh;
          this.#tmp = tmp;
          cb();
        },
        (e: unknown) => {
          cb(e instanceof FerryError ? e : storeError('write', tmp, e));
        },
      );
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (error?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    for (const b of bufs) {
      this.#bytes += b.length;
      this.#hash.update(b);
    }
    if (this.#expectedSize !== undefined && this.#bytes > this.#expectedSize) {
      cb(sizeError(this.#what, this.#expectedSize, this.#bytes));
      return;
    }
    writeAll(this.#handle(), bufs).then(
      () => {
        cb();
      },
      (e: unknown) => {
        cb(storeError('write', this.#tmp ?? this.#dir, e));
      },
    );
  }

  override _final(cb: (error?: Error | null) => void): void {
    this.#commit().then(
      () => {
        cb();
      },
      (e: unknown) => {
        cb(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const fh = this.#fh;
    const tmp = this.#tmp;
    this.#fh = undefined;
    this.#tmp = undefined;
    void (async () => {
      await fh?.close().catch(() => undefined);
      if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
    })().then(() => {
      cb(err);
    });
  }

  async #commit(): Promise<void> {
    if (this.#expectedSize !== undefined && this.#bytes !== this.#expectedSize) {
      throw sizeError(this.#what, this.#expectedSize, this.#bytes);
    }
    const got = Digest.fromHex(this.#algorithm, this.#hash.digest('hex'));
    if (this.#expected !== undefined && !got.equals(this.#expected)) throw mismatch(this.#what, this.#expected, got);
    const fh = this.#handle();
    const tmp = this.#tmp ?? '';
    const dst = join(this.#dir, got.hex);
    try {
      // fsync before rename: otherwise a crash can leave an empty file under a digest name, and the
      // cache would serve it forever.
      await fh.sync();
      await fh.close();
      this.#fh = undefined;
      await rename(tmp, dst);
      this.#tmp = undefined;
    } catch (e) {
      throw storeError('write', dst, e);
    }
    this.#result = { digest: got, size: this.#bytes };
  }

  #handle(): FileHandle {
    if (this.#fh === undefined) throw new Error('BlobWriter used after close');
    return this.#fh;
  }
}

async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  let pending = bufs.filter((b) => b.length > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await fh.writev(pending);
    // A short write (rare on regular files) leaves the rest for another round.
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        rest.push(b.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw storeError('create', dir, e);
  }
}

function tempName(path: string): string {
  return join(dirname(path), `.tmp-${randomBytes(12).toString('hex')}`);
}

export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

function notFound(digest: Digest | string, root: string, cause?: unknown): FerryError {
  return dataError('IMAGE_BLOB_NOT_FOUND', `blob ${digest.toString()} is not in ${root}`, {
    where: root,
    ...(cause === undefined ? {} : { cause }),
  });
}

function mismatch(what: string, expected: Digest, got: Digest): FerryError {
  return dataError('IMAGE_DIGEST_MISMATCH', `${what} does not match its digest: expected ${expected.toString()}, got ${got.toString()}`, {
    details: { expected: expected.toString(), actual: got.toString() },
  });
}

function sizeError(what: string, expected: number, got: number): FerryError {
  return dataError('IMAGE_SIZE_MISMATCH', `${what} has the wrong size: expected ${expected} bytes, got ${got}`, {
    details: { expected, actual: got },
  });
}

/**
 * A failure of the local disk under a blob store: exit 78 for permissions or a path that is not a
 * directory (point FERRY_CACHE_DIR or the output elsewhere), 75 for a full disk or too many open files (may pass), else 70.
 */
export function storeError(op: string, path: string, cause: unknown): FerryError {
  const code = errnoCode(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  let exitCode: number = ExitCode.SOFTWARE;
  const suggestions: string[] = [];
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EISDIR') {
    exitCode = ExitCode.CONFIG;
    suggestions.push('check that the path is a writable directory, or point FERRY_CACHE_DIR (or the output) elsewhere');
  } else if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EMFILE' || code === 'ENFILE') {
    exitCode = ExitCode.TEMPFAIL;
    suggestions.push('free some disk space (ferry keeps layers under FERRY_CACHE_DIR) and try again');
  }
  return new FerryError('IMAGE_STORE_IO', `could not ${op} ${path}: ${detail}`, { exitCode, where: path, suggestions, cause });
}
