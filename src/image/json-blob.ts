/**
 * Turning a manifest, index or config object into the exact bytes that get hashed and pushed.
 * JSON.stringify keeps insertion order, and ferry builds these objects in a fixed key order, so the
 * same image always serialises to the same bytes (and digest). No whitespace: registries store the
 * bytes as given, and compact is what Docker, buildah and ko push too.
 */
import { Digest } from './digest.js';
import type { Descriptor } from './types.js';

export interface JsonBlob {
  bytes: Buffer;
  descriptor: Descriptor;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Bytes and descriptor of a JSON document; extra descriptor fields (platform, annotations) merged in. */
export function jsonBlob(mediaType: string, value: unknown, extra: Partial<Omit<Descriptor, 'mediaType' | 'digest' | 'size'>> = {}): JsonBlob {
  const bytes = encodeJson(value);
  return { bytes, descriptor: { mediaType, digest: Digest.of(bytes).toString(), size: bytes.byteLength, ...extra } };
}
