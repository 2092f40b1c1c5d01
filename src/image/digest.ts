/**
 * Content digests (`algorithm:hex`) as the OCI image spec defines them, and the streaming hash that
 * every blob passes through on its way to disk or to a registry, so a blob is hashed in the same pass
 * that moves it and never has to be held whole in memory or read twice.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { dataError } from '../core/errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';
/** A validated digest in its string form. */
export type DigestString = `sha256:${string}` | `sha512:${string}`;

// Only the two algorithms the OCI spec registers. Encoded parts are lowercase hex of the exact
// length: registries compare digests as strings, so "SHA256:ABC…" must not slip through as equal.
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([0-9a-f]+)$/;

export class Digest {
  private constructor(
    readonly algorithm: DigestAlgorithm,
    readonly hex: string,
  ) {}

  /** Parse `sha256:<64 hex>` or `sha512:<128 hex>`; throws IMAGE_BAD_DIGEST (exit 65). */
  static parse(value: string, where?: string): Digest {
    const d = Digest.tryParse(value);
    if (d === undefined) {
      throw dataError('IMAGE_BAD_DIGEST', `not a valid digest: ${JSON.stringify(truncate(value))}`, {
        ...(where === undefined ? {} : { where }),
        suggestions: ['a digest looks like sha256: followed by 64 lowercase hex characters'],
      });
    }
    return d;
  }

  static tryParse(value: unknown): Digest | undefined {
    if (typeof value !== 'string') return undefined;
    const m = DIGEST_RE.exec(value);
    if (m === null) return undefined;
    const algorithm = m[1] as DigestAlgorithm;
    const hex = m[2] ?? '';
    if (hex.length !== HEX_LENGTH[algorithm]) return undefined;
    return new Digest(algorithm, hex);
  }

  static isValid(value: unknown): value is DigestString {
    return Digest.tryParse(value) !== undefined;
  }

  /** Digest of bytes already in memory (manifests, configs: small by construction). */
  static of(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
    return new Digest(algorithm, createHash(algorithm).update(data).digest('hex'));
  }

  static fromHex(algorithm: DigestAlgorithm, hex: string): Digest {
    return Digest.parse(`${algorithm}:${hex}`);
  }

  toString(): DigestString {
    return `${this.algorithm}:${this.hex}` as DigestString;
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: Digest | string): boolean {
    return this.toString() === (typeof other === 'string' ? other : other.toString());
  }
}

export interface HashingStreamOptions {
  algorithm?: DigestAlgorithm;
  /** Fail (IMAGE_DIGEST_MISMATCH) at the end if the content does not hash to this. Its algorithm wins. */
  expectedDigest?: string;
  /** Fail (IMAGE_SIZE_MISMATCH) as soon as more bytes arrive, or at the end if fewer did. */
  expectedSize?: number;
  /** What is being hashed, for error messages: "blob sha256:… from registry.example.com". */
  what?: string;
}

/**
 * A pass-through stream that hashes and counts what flows through it. With an expected digest it
 * errors at the end of the stream, before the consumer sees a clean finish, so a pipeline that
 * writes to a temp file and renames on success never commits corrupt content.
 */
export class HashingStream extends Transform {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #bytes = 0;
  #result: Digest | undefined;
  readonly #expected: Digest | undefined;
  readonly #expectedSize: number | undefined;
  readonly #what: string;

  constructor(opts: HashingStreamOptions = {}) {
    super();
    this.#expected = opts.expectedDigest === undefined ? undefined : Digest.parse(opts.expectedDigest);
    this.algorithm = this.#expected?.algorithm ?? opts.algorithm ?? 'sha256';
    this.#hash = createHash(this.algorithm);
    this.#expectedSize = opts.expectedSize;
    this.#what = opts.what ?? 'content';
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The digest of everything that went through; only once the stream has ended. */
  digest(): Digest {
    if (this.#result === undefined) throw new Error('HashingStream.digest() called before the stream ended');
    return this.#result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#expectedSize !== undefined && this.#bytes > this.#expectedSize) {
      cb(this.#sizeError());
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.#bytes !== this.#expectedSize) {
      cb(this.#sizeError());
      return;
    }
    const got = Digest.fromHex(this.algorithm, this.#hash.digest('hex'));
    if (this.#expected !== undefined && !got.equals(this.#expected)) {
      cb(
        dataError('IMAGE_DIGEST_MISMATCH', `${this.#what} does not match its digest: expected ${this.#expected.toString()}, got ${got.toString()}`, {
          details: { expected: this.#expected.toString(), actual: got.toString() },
          suggestions: ['the content was corrupted or changed in transit; try again, and check any proxy in between'],
        }),
      );
      return;
    }
    this.#result = got;
    cb();
  }

  #sizeError(): Error {
    return dataError('IMAGE_SIZE_MISMATCH', `${this.#what} has the wrong size: expected ${this.#expectedSize} bytes, got ${this.#bytes}${this.writableFinished ? '' : ' or more'}`, {
      details: { expected: this.#expectedSize, actual: this.#bytes },
    });
  }
}

/**
 * Hash a file from disk, streaming with constant memory. File-system errors (ENOENT, EACCES) are
 * passed through as they are: the caller knows what the file was for and wraps them.
 */
export async function sha256File(path: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: Digest.fromHex('sha256', hash.digest('hex')), size };
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
