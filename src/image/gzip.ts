/**
 * Gzip whose bytes depend only on the input and on the zlib that Node bundles, never on the
 * machine, the time, or how the input was chunked; so a layer's digest is reproducible.
 *
 * Why not zlib.createGzip: its 10-byte header carries an OS byte that differs between platforms.
 * We write the header ourselves (no mtime, no name, OS = 255 "unknown"), the body with raw
 * deflate, and the trailer (CRC-32 and length mod 2^32) from zlib.crc32.
 *
 * Why blocks: deflate runs at ~40 MB/s on one core, which would dominate a build. Like pigz, the
 * input is cut into fixed 1 MiB blocks; each is deflated on its own (on libuv's thread pool, so
 * several at once) with the previous 32 KiB as its dictionary, and ended with a sync flush so the
 * pieces concatenate into one valid deflate stream. The cut points are fixed input offsets, so the
 * output does not depend on how many blocks ran in parallel. Memory is bounded by the number of
 * blocks in flight.
 *
 * Caveat: byte-identical output needs the same deflate implementation. Node bundles Chromium's
 * zlib (process.versions.zlib); an upgrade of it can change compressed bytes (never the
 * uncompressed diff_id). The layer cache is unaffected (it stores the blob it made).
 */
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

/** Part of the layer format: changing any of these changes every layer digest. */
export const GZIP_LEVEL = 6;
export const GZIP_BLOCK_SIZE = 1 << 20;
const WINDOW = 32 * 1024;

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

// ID1 ID2 CM=deflate FLG=0 MTIME=0 (4 bytes) XFL=0 OS=255
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

export interface GzipOptions {
  /**
   * Blocks deflated at once. Does not change the output. Default: CPUs + 1 (so a core never waits
   * while the main thread hands over the next block), at most 8.
   */
  concurrency?: number;
}

export class DeterministicGzip extends Transform {
  readonly #concurrency: number;
  #crc = 0;
  #isize = 0;
  #parts: Buffer[] = [];
  #partsLength = 0;
  #tail: Buffer | undefined;
  #inflight: Promise<Buffer>[] = [];
  #headerSent = false;

  constructor(opts: GzipOptions = {}) {
    super({ highWaterMark: GZIP_BLOCK_SIZE });
    this.#concurrency = Math.max(1, opts.concurrency ?? Math.min(8, availableParallelism() + 1));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#sendHeader();
    this.#crc = zlib.crc32(chunk, this.#crc);
    this.#isize = (this.#isize + chunk.length) % 0x1_0000_0000;
    this.#parts.push(chunk);
    this.#partsLength += chunk.length;
    while (this.#partsLength >= GZIP_BLOCK_SIZE) {
      const all = this.#parts.length === 1 ? (this.#parts[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#parts, this.#partsLength);
      this.#dispatch(all.subarray(0, GZIP_BLOCK_SIZE), false);
      const rest = all.subarray(GZIP_BLOCK_SIZE);
      this.#parts = rest.length > 0 ? [rest] : [];
      this.#partsLength = rest.length;
    }
    this.#drain(this.#concurrency - 1).then(() => {
      cb();
    }, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.#sendHeader();
    this.#dispatch(Buffer.concat(this.#parts, this.#partsLength), true);
    this.#parts = [];
    this.#drain(0).then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#isize, 4);
      cb(null, trailer);
    }, cb);
  }

  #sendHeader(): void {
    if (this.#headerSent) return;
    this.#headerSent = true;
    this.push(HEADER);
  }

  #dispatch(block: Buffer, final: boolean): void {
    const opts: zlib.ZlibOptions = {
      level: GZIP_LEVEL,
      windowBits: 15,
      memLevel: 8,
      strategy: zlib.constants.Z_DEFAULT_STRATEGY,
      finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      // Room for a whole block's output (incompressible data grows slightly), so a block takes one
      // trip to the thread pool instead of one per 16 KiB, which starved the pool whenever the main
      // thread was busy hashing. Does not change the output.
      chunkSize: GZIP_BLOCK_SIZE + 64 * 1024,
    };
    if (this.#tail !== undefined) opts.dictionary = this.#tail;
    // Copy the tail: the block may be a view into a larger buffer we must not pin.
    this.#tail = block.length >= WINDOW ? Buffer.from(block.subarray(block.length - WINDOW)) : undefined;
    const p = deflateRaw(block, opts);
    // Awaited in order by #drain; this only keeps a failure from being "unhandled" meanwhile.
    p.catch(() => undefined);
    this.#inflight.push(p);
  }

  /** Emit finished blocks, in order, until at most `keep` are in flight. */
  async #drain(keep: number): Promise<void> {
    while (this.#inflight.length > keep) {
      const next = this.#inflight.shift();
      if (next === undefined) break;
      this.push(await next);
    }
  }
}
