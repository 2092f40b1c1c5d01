/**
 * Content from a registry is trusted only once it hashes to the digest we asked for. Blobs are
 * verified as they stream (never held whole), and the stream fails at its end when they do not
 * match, so a consumer that commits on a clean end (a temp file renamed into the blob store, an
 * upload's final PUT) never commits corrupt content.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { dataError } from '../core/errors.js';
import { assertDigest } from '../core/image-ref.js';

export function digestOf(data: Uint8Array | string, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function digestAlgorithm(digest: string): string {
  return digest.slice(0, digest.indexOf(':'));
}

export function mismatchError(what: string, expected: string, actual: string): Error {
  return dataError('REGISTRY_DIGEST_MISMATCH', `${what} does not match its digest: expected ${expected}, got ${actual}`, {
    details: { expected, actual },
    suggestions: ['the registry (or something between it and ferry) served corrupt content; try again, and report it to the registry operator if it persists'],
  });
}

export interface DigestingStreamOptions {
  /** Verify against this digest at the end (its algorithm is used). */
  expected?: string;
  /** Verify the size too: more bytes fail at once, fewer at the end. */
  expectedSize?: number;
  algorithm?: string;
  what?: string;
}

/** A pass-through that hashes and counts; optionally verifies at the end. */
export class DigestingStream extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  bytes = 0;
  private result: string | undefined;

  constructor(private readonly opts: DigestingStreamOptions = {}) {
    super();
    if (opts.expected !== undefined) assertDigest(opts.expected);
    this.algorithm = opts.expected === undefined ? (opts.algorithm ?? 'sha256') : digestAlgorithm(opts.expected);
    this.hash = createHash(this.algorithm);
  }

  /** The digest of what went through; defined once the stream has ended. */
  get digest(): string | undefined {
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.opts.expectedSize !== undefined && this.bytes > this.opts.expectedSize) {
      cb(this.sizeError());
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.opts.expectedSize !== undefined && this.bytes !== this.opts.expectedSize) {
      cb(this.sizeError());
      return;
    }
    const got = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (this.opts.expected !== undefined && got !== this.opts.expected) {
      cb(mismatchError(this.opts.what ?? 'content', this.opts.expected, got));
      return;
    }
    this.result = got;
    cb();
  }

  private sizeError(): Error {
    return dataError(
      'REGISTRY_SIZE_MISMATCH',
      `${this.opts.what ?? 'content'} has the wrong size: expected ${this.opts.expectedSize} bytes, got ${this.bytes}`,
      { details: { expected: this.opts.expectedSize, actual: this.bytes } },
    );
  }
}
