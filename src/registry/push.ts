/**
 * Pushing an image: blobs first (in parallel, each skipped when the registry has it, mounted when
 * it is in another repository of the same registry, else uploaded or streamed across from its
 * source registry), then the config, then the manifest by digest, and only then the tags. So an
 * interrupted push never leaves a tag pointing at an incomplete image.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { dataError, FerryError } from '../core/errors.js';
import { assertDigest, isValidTag } from '../core/image-ref.js';
import type { BlobProgress, BlobRef, RegistryClient } from './client.js';
import { digestOf } from './verify.js';

/** Where a blob's bytes come from. */
export type BlobOrigin =
  /** A file on disk (the blob store). */
  | { kind: 'file'; path: string }
  /** Bytes in memory (configs, small generated blobs). */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** Another repository, on this registry (mountable) or on another one (streamed across). */
  | { kind: 'registry'; client: RegistryClient; repository: string };

export interface PushBlob {
  descriptor: BlobRef & { mediaType: string };
  origin: BlobOrigin;
}

export type BlobOutcome = 'skipped' | 'mounted' | 'uploaded';

export type PushProgress =
  | { type: 'blob-start'; digest: string; size: number; role: 'layer' | 'config' }
  | { type: 'blob-bytes'; digest: string; bytes: number; size: number }
  | { type: 'blob-done'; digest: string; size: number; outcome: BlobOutcome }
  | { type: 'manifest'; digest: string }
  | { type: 'tag'; tag: string };

export interface PushRequest {
  client: RegistryClient;
  repository: string;
  manifest: { bytes: Uint8Array; mediaType: string };
  config: PushBlob;
  layers: PushBlob[];
  /** Tags to point at the manifest once it is in place. */
  tags?: string[];
  /** Parallel blob transfers; default the client's (4). */
  concurrency?: number;
  onProgress?: (e: PushProgress) => void;
  signal?: AbortSignal;
}

export interface PushStats {
  uploaded: number;
  skipped: number;
  mounted: number;
  bytesUploaded: number;
  /** HTTP requests made during the push (token requests included). */
  requests: number;
}

export interface PushResult extends PushStats {
  digest: string;
  tags: string[];
  /** Per blob, what happened. */
  blobs: { digest: string; size: number; outcome: BlobOutcome }[];
}

export async function pushImage(req: PushRequest): Promise<PushResult> {
  const { client, repository } = req;
  const tags = req.tags ?? [];
  for (const t of tags) {
    if (!isValidTag(t)) {
      throw dataError('IMAGE_REF_INVALID', `invalid tag "${t}"`, { details: { reference: t, problem: 'tag' }, where: '--tag' });
    }
  }
  for (const b of [req.config, ...req.layers]) assertDigest(b.descriptor.digest);
  client.preparePush(repository);
  const startRequests = client.requestCount;
  const stats: PushStats = { uploaded: 0, skipped: 0, mounted: 0, bytesUploaded: 0, requests: 0 };
  const outcomes: PushResult['blobs'] = [];

  // The same layer can appear twice in a manifest; send it once.
  const seen = new Set<string>();
  const layers = req.layers.filter((l) => {
    if (seen.has(l.descriptor.digest)) return false;
    seen.add(l.descriptor.digest);
    return true;
  });

  const one = async (blob: PushBlob, role: 'layer' | 'config'): Promise<void> => {
    const { digest, size } = blob.descriptor;
    req.onProgress?.({ type: 'blob-start', digest, size, role });
    const outcome = await pushBlob(client, repository, blob, (p) => {
      req.onProgress?.({ type: 'blob-bytes', digest, bytes: p.bytes, size });
    }, req.signal);
    if (outcome === 'uploaded') {
      stats.uploaded++;
      stats.bytesUploaded += size;
    } else if (outcome === 'mounted') stats.mounted++;
    else stats.skipped++;
    outcomes.push({ digest, size, outcome });
    req.onProgress?.({ type: 'blob-done', digest, size, outcome });
  };

  const manifestDigest = digestOf(req.manifest.bytes);
  // A registry accepts a manifest only once it has every blob the manifest names, so a manifest
  // already there by digest means the whole image is: an unchanged re-push then costs one HEAD
  // instead of one per blob.
  const present = await client.headManifest(repository, manifestDigest);
  let digest = manifestDigest;
  if (present?.digest === manifestDigest) {
    for (const b of [...layers, ...(seen.has(req.config.descriptor.digest) ? [] : [req.config])]) {
      const { digest: d, size } = b.descriptor;
      stats.skipped++;
      outcomes.push({ digest: d, size, outcome: 'skipped' });
      req.onProgress?.({ type: 'blob-done', digest: d, size, outcome: 'skipped' });
    }
  } else {
    await forEachLimited(layers, req.concurrency ?? client.concurrency, (l) => one(l, 'layer'), req.signal);
    if (!seen.has(req.config.descriptor.digest)) await one(req.config, 'config');
    // The manifest last, by digest; tags after it, so a tag never names an image with missing parts.
    digest = await client.putManifest(repository, manifestDigest, req.manifest.bytes, req.manifest.mediaType);
  }
  req.onProgress?.({ type: 'manifest', digest });
  for (const tag of tags) {
    // A tag that already names this image is left alone: the same request count as a PUT, and a
    // repository with immutable tags (ECR's IMMUTABLE) does not refuse an unchanged re-push.
    if (present?.digest === manifestDigest && (await client.headManifest(repository, tag))?.digest === manifestDigest) {
      req.onProgress?.({ type: 'tag', tag });
      continue;
    }
    await client.putManifest(repository, tag, req.manifest.bytes, req.manifest.mediaType);
    req.onProgress?.({ type: 'tag', tag });
  }
  stats.requests = client.requestCount - startRequests;
  return { ...stats, digest, tags, blobs: outcomes };
}

/** One blob: HEAD, else mount, else upload (or stream across from its source registry). */
export async function pushBlob(
  client: RegistryClient,
  repository: string,
  blob: PushBlob,
  onProgress?: (p: BlobProgress) => void,
  signal?: AbortSignal,
): Promise<BlobOutcome> {
  const { descriptor, origin } = blob;
  if (await client.blobExists(repository, descriptor.digest)) return 'skipped';
  const progress = onProgress === undefined ? {} : { onProgress };
  const sig = signal === undefined ? {} : { signal };
  if (origin.kind === 'registry') {
    return client.copyBlob(origin.client, origin.repository, repository, descriptor, { ...progress, ...sig });
  }
  const source =
    origin.kind === 'file'
      ? (): Readable => createReadStream(origin.path, { highWaterMark: 1 << 20 })
      : (): Readable => Readable.from([Buffer.from(origin.bytes)]);
  if (origin.kind === 'bytes' && origin.bytes.length !== descriptor.size) {
    throw dataError('REGISTRY_SIZE_MISMATCH', `blob ${descriptor.digest} has ${origin.bytes.length} bytes, its descriptor says ${descriptor.size}`);
  }
  await client.uploadBlob(repository, descriptor, source, { ...progress, ...sig });
  return 'uploaded';
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure stops new work and is thrown. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      if (signal?.aborted === true) {
        failure ??= new FerryError('PUSH_CANCELLED', 'push was cancelled', { exitCode: 75, cause: signal.reason });
        return;
      }
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error('push failed', { cause: failure });
}
