/**
 * The layer cache: an unchanged COPY layer is neither re-tarred nor re-compressed, and an unchanged
 * file is not even re-read.
 *
 * Two levels:
 * 1. Layer records. key = sha256 of a canonical description of the normalised entries (path, type,
 *    mode, uid, gid, symlink target, each file's content sha256), the mtime, and the layer format
 *    (LAYER_FORMAT: tar and gzip choices). The record `{digest, diffId, size, mediaType}` lives in
 *    `layers/<key>.json`, one file per key, so concurrent builds never fight over one file; the blob
 *    itself lives in the blob store (`blobs/sha256/…`). Source paths are not in the key, so a
 *    second checkout of the same tree hits the cache.
 * 2. A stat cache: absolute path + size + mtime (ns) + ctime (ns) + inode → content sha256, so the
 *    file contents behind the key need not be hashed again on a rebuild.
 *
 * Why trusting stat data is safe (git's index makes the same bet): writing to a file updates its
 * mtime and ctime; replacing it (editors, git checkout) gives a new inode; and ctime cannot be set
 * by user programs, so even `touch -d` to an old time after an edit is seen. What stat cannot see
 * is a change within the file system's timestamp granularity of the moment we hashed it ("racily
 * clean" in git's terms): hash at t, write again at t with the same size, and the stat data is
 * unchanged. So, as git does with its index timestamp, entries whose mtime is within RACY_WINDOW_MS
 * of the moment the cache is written are not saved: they are hashed again next time. Two seconds
 * covers coarse (FAT: 2 s) timestamps. Not covered: a file system whose clock differs from ours
 * (network mounts) by more than that, or someone resetting both clocks as root.
 *
 * And a last guard: the layer writer re-hashes every file it reads and fails if the content is not
 * the one the key was computed from, so a cache record can never point at other content.
 *
 * A cache that cannot be read (corrupt, older format) is treated as empty, never as an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { dataError, type FerryError } from '../core/errors.js';
import { BlobStore, storeError } from './blob-store.js';
import { Digest, type DigestString } from './digest.js';
import { LAYER_FORMAT, normalizeEntries, writeLayer, type LayerEntry, type LayerOptions, type LayerResult, type NormalizedEntry } from './layer.js';

const CACHE_VERSION = 1;
export const RACY_WINDOW_MS = 2000;
/** Files hashed at once: enough to hide per-file latency, few enough for any fd limit. */
const HASH_CONCURRENCY = 8;
/** Over this many stat entries, those not used by this run are dropped on save. */
const STAT_CACHE_MAX = 200_000;

/**
 * Where ferry keeps its cache: $FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry (the XDG spec says a
 * relative XDG_CACHE_HOME is invalid and must be ignored), else ~/.cache/ferry.
 */
export function resolveCacheDir(env: Readonly<Record<string, string | undefined>> = process.env, cwd: string = process.cwd()): string {
  const own = env.FERRY_CACHE_DIR;
  if (own !== undefined && own !== '') return resolve(cwd, own);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'ferry');
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(home, '.cache', 'ferry');
}

export interface LayerRecord {
  digest: DigestString;
  diffId: DigestString;
  size: number;
  mediaType: string;
  uncompressedSize?: number;
}

export interface CachedLayerResult extends LayerRecord {
  /** True when the layer came from the cache and nothing was tarred or compressed. */
  reused: boolean;
  key: string;
}

// ---------------------------------------------------------------------------------------------
// Stat cache

interface StatRecord {
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  sha256: DigestString;
}

interface StatCacheFile {
  version: number;
  savedAtMs: number;
  entries: Record<string, [size: string, mtimeNs: string, ctimeNs: string, ino: string, sha256: string]>;
}

export class StatCache {
  #entries = new Map<string, StatRecord>();
  #used = new Set<string>();
  #dirty = false;
  hits = 0;
  misses = 0;

  private constructor(
    readonly file: string,
    private readonly now: () => number,
  ) {}

  /** Load from disk; a missing or unreadable file gives an empty cache. `now` is for tests. */
  static async load(file: string, now: () => number = Date.now): Promise<StatCache> {
    const c = new StatCache(file, now);
    let data: unknown;
    try {
      data = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      return c;
    }
    if (!isStatCacheFile(data)) return c;
    const limitNs = BigInt(Math.floor(data.savedAtMs - RACY_WINDOW_MS)) * 1_000_000n;
    for (const [path, [size, mtimeNs, ctimeNs, ino, sha256]] of Object.entries(data.entries)) {
      if (!Digest.isValid(sha256) || !isBigIntString(size) || !isBigIntString(mtimeNs) || !isBigIntString(ctimeNs) || !isBigIntString(ino)) continue;
      // Also checked on save; again here in case a clock moved backwards in between.
      if (BigInt(mtimeNs) >= limitNs) continue;
      c.#entries.set(path, { size, mtimeNs, ctimeNs, ino, sha256 });
    }
    return c;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Content sha256 and size of a regular file, from the cache when its stat data is unchanged. */
  async hash(path: string): Promise<{ sha256: DigestString; size: number }> {
    let before: BigIntStats;
    try {
      before = await stat(path, { bigint: true });
    } catch (e) {
      throw unreadable(path, e);
    }
    if (!before.isFile()) throw dataError('IMAGE_BAD_LAYER_ENTRY', `${path} is not a regular file`, { where: path });
    this.#used.add(path);
    const known = this.#entries.get(path);
    if (known !== undefined && sameStat(known, before)) {
      this.hits++;
      return { sha256: known.sha256, size: Number(before.size) };
    }
    this.misses++;
    const { sha256, size, stable } = await hashOpenFile(path);
    if (stable) {
      this.#entries.set(path, { ...statKey(stable), sha256 });
      this.#dirty = true;
    } else {
      this.#entries.delete(path);
    }
    return { sha256, size };
  }

  /** Write the cache (atomically), leaving out racily clean entries. */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    const savedAtMs = this.now();
    const limitNs = BigInt(Math.floor(savedAtMs - RACY_WINDOW_MS)) * 1_000_000n;
    const prune = this.#entries.size > STAT_CACHE_MAX;
    const entries: StatCacheFile['entries'] = {};
    for (const [path, r] of this.#entries) {
      if (BigInt(r.mtimeNs) >= limitNs) continue;
      if (prune && !this.#used.has(path)) continue;
      entries[path] = [r.size, r.mtimeNs, r.ctimeNs, r.ino, r.sha256];
    }
    const body: StatCacheFile = { version: CACHE_VERSION, savedAtMs, entries };
    await writeFileAtomic(this.file, JSON.stringify(body));
    this.#dirty = false;
  }
}

function statKey(s: BigIntStats): Omit<StatRecord, 'sha256'> {
  return { size: s.size.toString(), mtimeNs: s.mtimeNs.toString(), ctimeNs: s.ctimeNs.toString(), ino: s.ino.toString() };
}

function sameStat(r: StatRecord, s: BigIntStats): boolean {
  return r.size === s.size.toString() && r.mtimeNs === s.mtimeNs.toString() && r.ctimeNs === s.ctimeNs.toString() && r.ino === s.ino.toString();
}

/** Hash through one open descriptor; `stable` is the stat data if the file did not change meanwhile. */
async function hashOpenFile(path: string): Promise<{ sha256: DigestString; size: number; stable: BigIntStats | undefined }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  try {
    const before = await fh.stat({ bigint: true });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    const after = await fh.stat({ bigint: true });
    const stable = statKeyEqual(before, after) && before.size === BigInt(size) ? after : undefined;
    return { sha256: `sha256:${hash.digest('hex')}`, size, stable };
  } catch (e) {
    throw unreadable(path, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function statKeyEqual(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

function isBigIntString(s: unknown): s is string {
  return typeof s === 'string' && /^\d{1,30}$/.test(s);
}

function isStatCacheFile(v: unknown): v is StatCacheFile {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.version === CACHE_VERSION && typeof o.savedAtMs === 'number' && typeof o.entries === 'object' && o.entries !== null && !Array.isArray(o.entries)
    && Object.values(o.entries).every((e) => Array.isArray(e) && e.length === 5);
}

// ---------------------------------------------------------------------------------------------
// Layer cache

export class LayerCache {
  readonly blobs: BlobStore;

  private constructor(
    readonly dir: string,
    readonly stats: StatCache,
  ) {
    this.blobs = new BlobStore(dir);
  }

  static async open(dir: string, opts: { now?: () => number } = {}): Promise<LayerCache> {
    try {
      await mkdir(join(dir, 'layers'), { recursive: true });
    } catch (e) {
      throw storeError('create', dir, e);
    }
    return new LayerCache(dir, await StatCache.load(join(dir, `stat-cache-v${CACHE_VERSION}.json`), opts.now));
  }

  /**
   * Normalise the entries, fill in each file's content sha256 (through the stat cache) and compute
   * the cache key. The returned entries carry `sha256`, so writing them verifies the content.
   */
  async key(entries: readonly LayerEntry[], opts: Omit<LayerOptions, 'store'>): Promise<{ key: string; entries: NormalizedEntry[] }> {
    const list = normalizeEntries(entries, opts);
    await forEachLimited(list, HASH_CONCURRENCY, async (e) => {
      if (e.type !== 'file') return;
      const { sha256, size } = await this.stats.hash(e.source ?? '');
      if (e.sha256 !== undefined && e.sha256 !== sha256) {
        throw dataError('IMAGE_LAYER_SOURCE_CHANGED', `${e.source ?? e.path} changed while the build was reading it`, { where: e.source ?? e.path });
      }
      if (e.size !== undefined && e.size !== size) {
        throw dataError('IMAGE_LAYER_SOURCE_CHANGED', `${e.source ?? e.path} changed size from ${e.size} to ${size} bytes while the build was reading it`, { where: e.source ?? e.path });
      }
      e.sha256 = sha256;
      e.size = size;
    });
    const description = JSON.stringify([
      'ferry-layer-cache',
      CACHE_VERSION,
      LAYER_FORMAT,
      opts.mtime,
      list.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, e.linkname ?? '', e.sha256 ?? '']),
    ]);
    return { key: Digest.of(description).hex, entries: list };
  }

  /** The record for a key, if it is there and its blob still is (with the right size). */
  async lookup(key: string): Promise<LayerRecord | undefined> {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(this.#recordPath(key), 'utf8'));
    } catch {
      return undefined;
    }
    const rec = asRecord(data);
    if (rec === undefined) return undefined;
    return (await this.blobs.has(rec.digest, rec.size)) ? rec : undefined;
  }

  async put(key: string, rec: LayerRecord): Promise<void> {
    const body: LayerRecord = { digest: rec.digest, diffId: rec.diffId, size: rec.size, mediaType: rec.mediaType };
    if (rec.uncompressedSize !== undefined) body.uncompressedSize = rec.uncompressedSize;
    await writeFileAtomic(this.#recordPath(key), JSON.stringify(body));
  }

  /** The layer for these entries: from the cache, or written (and then recorded). */
  async getOrWrite(entries: readonly LayerEntry[], opts: Omit<LayerOptions, 'store'>): Promise<CachedLayerResult> {
    const { key, entries: list } = await this.key(entries, opts);
    const hit = await this.lookup(key);
    if (hit !== undefined) return { ...hit, reused: true, key };
    const res: LayerResult = await writeLayer(list, { ...opts, store: this.blobs });
    await this.put(key, res);
    return { ...res, reused: false, key };
  }

  /** Persist the stat cache; call once at the end of a build. */
  async save(): Promise<void> {
    await this.stats.save();
  }

  #recordPath(key: string): string {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`invalid layer cache key ${key}`);
    return join(this.dir, 'layers', `${key}.json`);
  }
}

function asRecord(v: unknown): LayerRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!Digest.isValid(o.digest) || !Digest.isValid(o.diffId) || typeof o.mediaType !== 'string') return undefined;
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) return undefined;
  const rec: LayerRecord = { digest: o.digest, diffId: o.diffId, size: o.size, mediaType: o.mediaType };
  if (typeof o.uncompressedSize === 'number') rec.uncompressedSize = o.uncompressedSize;
  return rec;
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.tmp-${randomBytes(12).toString('hex')}`);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw storeError('write', path, e);
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function unreadable(path: string, cause: unknown): FerryError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return dataError('IMAGE_LAYER_SOURCE_UNREADABLE', `${path} could not be read: ${detail}`, { where: path, cause });
}
