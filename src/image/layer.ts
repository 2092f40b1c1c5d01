/**
 * The deterministic layer writer: a list of entries in, a gzip'd tar blob in the blob store out,
 * with its digest (of the compressed blob) and diff_id (of the tar), both computed in the one pass
 * that streams the files from disk. No file is ever held whole in memory.
 *
 * Reproducibility rules (so the same inputs give the same digest on any machine, at any time, from
 * any checkout path):
 * - entries sorted by path in byte order; a parent always precedes its children, and missing
 *   parent directories are added (mode 0755, uid/gid 0 unless told otherwise);
 * - every time is the caller's `mtime` (from SOURCE_DATE_EPOCH or a fixed epoch); no atime/ctime;
 * - uname/gname empty, uid/gid as given, devmajor/devminor 0;
 * - ustar headers, with a PAX extended header only where ustar cannot say it (names over its
 *   limits, non-ASCII names, ids over 262143); this choice is fixed, not left to a library default;
 * - gzip as in gzip.ts: no timestamp, fixed OS byte, fixed level and block layout.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { dataError, isFerryError, type FerryError } from '../core/errors.js';
import type { BlobStore } from './blob-store.js';
import { Digest, HashingStream, type DigestString } from './digest.js';
import { DeterministicGzip, GZIP_BLOCK_SIZE, GZIP_LEVEL } from './gzip.js';
import { MediaType } from './media-types.js';

export type LayerEntryType = 'file' | 'dir' | 'symlink';

export interface LayerEntry {
  /** Path in the image: POSIX, relative (no leading slash), no `.`/`..`/empty components. */
  path: string;
  type: LayerEntryType;
  /** Permission bits, 0..0o7777 (setuid, setgid and sticky included). */
  mode: number;
  uid: number;
  gid: number;
  /** Absolute path on disk; required for files. */
  source?: string;
  /** Size seen when the entry was listed; if the file's size differs when read, the layer fails. */
  size?: number;
  /** Target of a symlink (not resolved; may be absolute or relative). */
  linkname?: string;
  /** The content digest seen when listed (e.g. for a cache key); checked while the file is read. */
  sha256?: string;
}

export interface LayerOptions {
  /** Seconds since the epoch for every entry: from SOURCE_DATE_EPOCH or a fixed epoch. */
  mtime: number;
  /** Owner and mode of parent directories that the entries imply but do not list. */
  parentDirs?: { mode: number; uid: number; gid: number };
}

export interface LayerResult {
  /** Digest of the compressed blob: what manifests reference. */
  digest: DigestString;
  /** Digest of the uncompressed tar: what the config's rootfs.diff_ids holds. */
  diffId: DigestString;
  /** Size of the compressed blob in bytes. */
  size: number;
  mediaType: string;
  uncompressedSize: number;
}

/**
 * Names everything that decides the bytes of a layer besides its entries. Part of the layer cache
 * key: bump it whenever this file or gzip.ts changes their output.
 */
export const LAYER_FORMAT = `ferry-layer/1 tar=ustar+pax gzip=level${GZIP_LEVEL},block${GZIP_BLOCK_SIZE}`;

/** ustar's numeric fields as tar-stream writes them: 6 octal digits. */
const USTAR_ID_MAX = 0o777777;
const MTIME_MAX = 0x7fffffff; // tar-stream truncates times to a signed 32-bit integer
const READ_CHUNK = 1 << 20;
/** Files up to this size are read whole, ahead of the tar writer. */
const SMALL_FILE = 256 * 1024;
/** How many entries ahead small files are read. */
const AHEAD = 32;
const TYPE_BITS: Record<LayerEntryType, number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000 };
const TAR_TYPE: Record<LayerEntryType, 'file' | 'directory' | 'symlink'> = { file: 'file', dir: 'directory', symlink: 'symlink' };

/** An entry after validation: parents added, sorted, ready to write or to hash into a cache key. */
export type NormalizedEntry = LayerEntry;

/**
 * Validate entries, add missing parent directories and sort them as they will be written. The
 * layer cache hashes this list, so a cache key and the layer it names always agree.
 */
export function normalizeEntries(entries: readonly LayerEntry[], opts: Pick<LayerOptions, 'parentDirs'> = {}): NormalizedEntry[] {
  const parents = opts.parentDirs ?? { mode: 0o755, uid: 0, gid: 0 };
  checkMode(parents.mode, '(parent directories)');
  checkId(parents.uid, 'uid', '(parent directories)');
  checkId(parents.gid, 'gid', '(parent directories)');
  const byPath = new Map<string, NormalizedEntry>();
  for (const e of entries) {
    const n = validateEntry(e);
    if (byPath.has(n.path)) throw badEntry(n.path, 'is listed twice');
    byPath.set(n.path, n);
  }
  for (const e of [...byPath.values()]) {
    let p = e.path;
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/')) {
      p = p.slice(0, i);
      const existing = byPath.get(p);
      if (existing === undefined) byPath.set(p, { path: p, type: 'dir', mode: parents.mode, uid: parents.uid, gid: parents.gid });
      else if (existing.type !== 'dir') throw badEntry(e.path, `is inside ${p}, which is a ${existing.type}, not a directory`);
      else break; // its own parents were handled (or will be) when it was visited
    }
  }
  // Byte order of UTF-8, not UTF-16 code units (JS's default): the order must not depend on
  // the language that computes it.
  return [...byPath.values()]
    .map((e) => ({ e, key: Buffer.from(e.path, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ e }) => e);
}

/** Write a layer into the blob store. The blob is in the store (under `digest`) when this resolves. */
export async function writeLayer(entries: readonly LayerEntry[], opts: LayerOptions & { store: BlobStore }): Promise<LayerResult> {
  checkMtime(opts.mtime);
  const list = normalizeEntries(entries, opts);
  const mtime = new Date(opts.mtime * 1000);

  const pack = tar.pack();
  // Its errors reach us through the iteration below and through the producer; an 'error' event
  // with no listener would crash the process instead.
  pack.on('error', () => undefined);
  const diff = new HashingStream({ algorithm: 'sha256' });
  const writer = opts.store.writeStream({ what: 'layer' });
  const consume = pipeline(
    async function* () {
      // tar-stream's pack is a streamx stream; iterate it rather than hand it to Node's pipeline.
      for await (const chunk of pack) yield chunk as Buffer;
    },
    diff,
    new DeterministicGzip(),
    writer,
  );
  // If the disk side fails, stop the producer, which may be waiting for the tar stream to drain.
  consume.catch((e: unknown) => {
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
  });

  const produce = (async () => {
    // Small files are read a few dozen ahead, in parallel: one at a time, each open/stat/read/
    // close is a round trip through libuv's thread pool and a 5,000-file layer spends most of
    // its time waiting (bench/README.md, one-file-change). Bounded: AHEAD × SMALL_FILE bytes.
    const ahead = new Map<number, Promise<Buffer>>();
    const start = (i: number): void => {
      const e = list[i];
      if (e?.type !== 'file' || e.size === undefined || e.size > SMALL_FILE) return;
      const read = readSmallFile(e);
      read.catch(() => undefined); // awaited in order below; an early failure must not go unhandled
      ahead.set(i, read);
    };
    try {
      for (let i = 0; i < AHEAD; i++) start(i);
      for (const [i, e] of list.entries()) {
        start(i + AHEAD);
        const read = ahead.get(i);
        ahead.delete(i);
        if (read === undefined) await writeEntry(pack, e, mtime);
        else await writeSmallFile(pack, e, await read, mtime);
      }
      pack.finalize();
    } catch (e) {
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  })();

  const [p, c] = await Promise.allSettled([produce, consume]);
  // After a failure, let the writer remove its temp file before we report.
  if (p.status === 'rejected' || c.status === 'rejected') await writer.whenClosed();
  // The producer's error is the root cause (a file changed, unreadable); the pipeline's error is
  // then only its echo.
  if (p.status === 'rejected' && (isFerryError(p.reason) || c.status !== 'rejected')) throw p.reason;
  if (c.status === 'rejected') throw c.reason;
  const blob = writer.result();
  return {
    digest: blob.digest.toString(),
    diffId: diff.digest().toString(),
    size: blob.size,
    mediaType: MediaType.OCI_LAYER_GZIP,
    uncompressedSize: diff.bytes,
  };
}

// ---------------------------------------------------------------------------------------------

type TarHeader = tar.Header;

function headerFor(e: NormalizedEntry, mtime: Date, size: number): TarHeader {
  const h: TarHeader = {
    name: e.type === 'dir' ? `${e.path}/` : e.path,
    // With the file-type bits set, mode 0 stays 0 (tar-stream replaces a falsy mode by a default).
    mode: TYPE_BITS[e.type] | e.mode,
    uid: Math.min(e.uid, USTAR_ID_MAX),
    gid: Math.min(e.gid, USTAR_ID_MAX),
    size,
    mtime,
    type: TAR_TYPE[e.type],
    linkname: e.type === 'symlink' ? (e.linkname ?? '') : '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
  if (e.uid > USTAR_ID_MAX || e.gid > USTAR_ID_MAX) h.pax = { uid: String(e.uid), gid: String(e.gid) };
  return h;
}

async function writeEntry(pack: tar.Pack, e: NormalizedEntry, mtime: Date): Promise<void> {
  if (e.type !== 'file') {
    await new Promise<void>((resolve, reject) => {
      pack.entry(headerFor(e, mtime, 0), (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
    return;
  }
  const source = e.source ?? '';
  let fh: FileHandle;
  try {
    fh = await open(source, 'r');
  } catch (err) {
    throw sourceError(e, 'could not be opened', err);
  }
  try {
    await writeFile(pack, e, fh, mtime);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function writeFile(pack: tar.Pack, e: NormalizedEntry, fh: FileHandle, mtime: Date): Promise<void> {
  const st = await fh.stat().catch((err: unknown) => {
    throw sourceError(e, 'could not be read', err);
  });
  if (!st.isFile()) throw badEntry(e.path, `has source ${e.source ?? ''}, which is not a regular file`);
  const size = e.size ?? st.size;
  if (st.size !== size) throw changed(e, `its size changed from ${size} to ${st.size} bytes`);
  const hash = e.sha256 === undefined ? undefined : createHash('sha256');

  let sinkError: Error | null | undefined;
  const sink = pack.entry(headerFor(e, mtime, size), (err) => {
    sinkError = err ?? null;
  });
  sink.on("error", () => undefined); // reported through the entry callback, below
  const done = new Promise<void>((resolve, reject) => {
    const settle = (): void => {
      if (sinkError === undefined) reject(new Error('the tar stream was closed while a file was being written'));
      else if (sinkError) reject(sinkError);
      else resolve();
    };
    // The pack may destroy the entry at any time (when the disk side fails); 'close' may be past.
    if (sink.destroyed) settle();
    else sink.once('close', settle);
  });
  done.catch(() => undefined); // awaited below; a failure before then is reported by the pack

  let pos = 0;
  while (pos < size) {
    const want = Math.min(READ_CHUNK, size - pos);
    // A fresh buffer per chunk: tar-stream queues chunks by reference.
    const buf = Buffer.allocUnsafe(want);
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(buf, 0, want, pos));
    } catch (err) {
      throw sourceError(e, 'could not be read', err);
    }
    if (bytesRead === 0) throw changed(e, `it ended after ${pos} of ${size} bytes`);
    const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
    hash?.update(chunk);
    pos += bytesRead;
    if (!sink.write(chunk)) await drained(sink);
  }
  // A file that grew since it was listed would otherwise go in truncated, silently.
  const probe = await fh.read(Buffer.alloc(1), 0, 1, size);
  if (probe.bytesRead > 0) throw changed(e, `it grew past the ${size} bytes it had when listed`);
  if (hash !== undefined) {
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== e.sha256) throw changed(e, `its content no longer hashes to ${e.sha256 ?? ''}`);
  }
  sink.end(null);
  await done;
}

/** Reads a whole small file, and one byte more to notice that it grew since it was listed. */
async function readSmallFile(e: NormalizedEntry): Promise<Buffer> {
  const size = e.size ?? 0;
  let fh: FileHandle;
  try {
    fh = await open(e.source ?? '', 'r');
  } catch (err) {
    throw sourceError(e, 'could not be opened', err);
  }
  try {
    const st = await fh.stat().catch((err: unknown) => {
      throw sourceError(e, 'could not be read', err);
    });
    if (!st.isFile()) throw badEntry(e.path, `has source ${e.source ?? ''}, which is not a regular file`);
    if (st.size !== size) throw changed(e, `its size changed from ${size} to ${st.size} bytes`);
    const buf = Buffer.allocUnsafe(size + 1);
    let pos = 0;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, pos, size + 1 - pos, pos));
      } catch (err) {
        throw sourceError(e, 'could not be read', err);
      }
      if (bytesRead === 0) break;
      pos += bytesRead;
      if (pos > size) throw changed(e, `it grew past the ${size} bytes it had when listed`);
    }
    if (pos < size) throw changed(e, `it ended after ${pos} of ${size} bytes`);
    return buf.subarray(0, size);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function writeSmallFile(pack: tar.Pack, e: NormalizedEntry, data: Buffer, mtime: Date): Promise<void> {
  if (e.sha256 !== undefined) {
    const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (got !== e.sha256) throw changed(e, `its content no longer hashes to ${e.sha256}`);
  }
  await new Promise<void>((resolve, reject) => {
    pack.entry(headerFor(e, mtime, data.byteLength), data, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

function drained(s: ReturnType<tar.Pack['entry']>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroying) {
      reject(new Error('the tar stream was closed while a file was being written'));
      return;
    }
    const cleanup = (): void => {
      s.off('drain', onDrain);
      s.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the tar stream was closed while a file was being written'));
    };
    s.on('drain', onDrain);
    s.on('close', onClose);
  });
}

function validateEntry(e: LayerEntry): NormalizedEntry {
  const p = e.path as unknown;
  if (typeof p !== 'string') throw badEntry(String(p), 'has a path that is not a string');
  checkPath(p);
  const type = e.type as unknown;
  if (type !== 'file' && type !== 'dir' && type !== 'symlink') throw badEntry(p, `has unknown type ${JSON.stringify(type)}`);
  checkMode(e.mode, p);
  checkId(e.uid, 'uid', p);
  checkId(e.gid, 'gid', p);
  const n: NormalizedEntry = { path: p, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
  if (e.type === 'file') {
    if (typeof e.source !== 'string' || !isAbsolute(e.source)) throw badEntry(p, 'is a file without an absolute source path');
    n.source = e.source;
    if (e.size !== undefined) {
      if (!Number.isSafeInteger(e.size) || e.size < 0) throw badEntry(p, `has an invalid size ${String(e.size)}`);
      n.size = e.size;
    }
    if (e.sha256 !== undefined) {
      const d = Digest.tryParse(e.sha256);
      if (d?.algorithm !== 'sha256') throw badEntry(p, `has an invalid sha256 ${JSON.stringify(e.sha256)}`);
      n.sha256 = e.sha256;
    }
  } else if (e.type === 'symlink') {
    if (typeof e.linkname !== 'string' || e.linkname === '' || e.linkname.includes('\0')) throw badEntry(p, 'is a symlink without a valid target');
    n.linkname = e.linkname;
  }
  return n;
}

function checkPath(p: string): void {
  if (p === '') throw badEntry(p, 'has an empty path');
  if (p.startsWith('/')) throw badEntry(p, 'must be relative to the image root (no leading slash)');
  if (p.includes('\0')) throw badEntry(p, 'contains a NUL byte');
  for (const part of p.split('/')) {
    if (part === '') throw badEntry(p, 'has an empty path component (a double or trailing slash)');
    if (part === '.' || part === '..') throw badEntry(p, `has a "${part}" component`);
  }
}

function checkMode(mode: number, path: string): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw badEntry(path, `has an invalid mode ${String(mode)} (expected 0 to 0o7777)`);
}

function checkId(id: number, which: string, path: string): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw badEntry(path, `has an invalid ${which} ${String(id)}`);
}

function checkMtime(mtime: number): void {
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MTIME_MAX) {
    throw dataError('IMAGE_BAD_MTIME', `layer time ${String(mtime)} is not a whole number of seconds between 1970 and 2038`, {
      suggestions: ['set SOURCE_DATE_EPOCH to a Unix time in seconds, e.g. the last commit time: git log -1 --format=%ct'],
    });
  }
}

function badEntry(path: string, message: string): FerryError {
  return dataError('IMAGE_BAD_LAYER_ENTRY', `layer entry ${JSON.stringify(path)} ${message}`, { where: path });
}

function sourceError(e: LayerEntry, what: string, cause: unknown): FerryError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return dataError('IMAGE_LAYER_SOURCE_UNREADABLE', `${e.source ?? e.path} ${what}: ${detail}`, { where: e.source ?? e.path, cause });
}

function changed(e: LayerEntry, how: string): FerryError {
  return dataError('IMAGE_LAYER_SOURCE_CHANGED', `${e.source ?? e.path} changed while the layer was being written: ${how}`, {
    where: e.source ?? e.path,
    suggestions: ['something is writing to the build context; wait for it to finish, or leave that file out with .dockerignore, and build again'],
  });
}
