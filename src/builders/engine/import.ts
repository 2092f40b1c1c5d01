/**
 * Bringing an engine's image into ferry's pipeline. Whichever engine built it, ferry takes the
 * image as uncompressed layer tars plus the engine's config, compresses each layer with its own
 * deterministic gzip into the cache's blob store, and writes its own single OCI manifest. So the
 * same layer has the same compressed digest whoever built it, a rebuild that changed one layer
 * compresses only that one (the cache is keyed by diff_id), and the push is ferry's push: the same
 * deduplication, retries, progress and pinned digest as a native build, and never an attestation
 * index (Lambda and others reject those).
 *
 * Two on-disk shapes are read: containers/image's `dir:` transport (buildah push / podman push),
 * and an extracted `docker save` archive (the Docker Engine API's GET /images/{name}/get).
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { dataError, FerryError } from '../../core/errors.js';
import { Digest, HashingStream, type DigestString } from '../../image/digest.js';
import { DeterministicGzip } from '../../image/gzip.js';
import { LAYER_FORMAT } from '../../image/layer.js';
import type { LayerCache } from '../../image/layer-cache.js';
import { MediaType } from '../../image/media-types.js';
import { MAX_CONFIG_BYTES, parseImageConfig, type ImageConfig } from '../../image/types.js';
import type { Reporter } from '../../core/context.js';
import { formatBytes, shortDigest } from '../../ui/format.js';

/** An engine's image on disk: its config, and one uncompressed (or gzip) tar file per layer. */
export interface EngineImageFiles {
  configBytes: Buffer;
  config: ImageConfig;
  /** In rootfs order; `diffId` is the config's. */
  layers: { file: string; diffId: DigestString }[];
}

export interface ImportedLayer {
  digest: DigestString;
  size: number;
  diffId: DigestString;
  mediaType: string;
  /** Found in ferry's cache by diff_id: nothing was read or compressed. */
  reused: boolean;
}

/** containers/image `dir:` transport: manifest.json plus blobs named by their hex digest. */
export async function readDirTransport(dir: string, what: string): Promise<EngineImageFiles> {
  const manifest = await readJson(path.join(dir, 'manifest.json'), what);
  const configDigest = stringAt(manifest, ['config', 'digest'], what);
  const layers = arrayAt(manifest, ['layers'], what).map((l) => stringAt(l, ['digest'], what));
  const configBytes = await readBlobFile(path.join(dir, hexOf(configDigest, what)), what);
  const config = parseImageConfig(configBytes, { where: `${what} config` });
  return { configBytes, config, layers: pairLayers(config, layers.map((d) => path.join(dir, hexOf(d, what))), what) };
}

/** An extracted `docker save` archive: manifest.json is [{Config, RepoTags, Layers}]. */
export async function readDockerArchive(dir: string, what: string): Promise<EngineImageFiles> {
  const list = await readJson(path.join(dir, 'manifest.json'), what);
  if (!Array.isArray(list) || list.length !== 1) throw badExport(what, `manifest.json lists ${Array.isArray(list) ? list.length : 'no'} images, not one`);
  const entry: unknown = list[0];
  const configPath = stringAt(entry, ['Config'], what);
  const layerPaths = arrayAt(entry, ['Layers'], what).map((l) => {
    if (typeof l !== 'string') throw badExport(what, 'a Layers entry is not a path');
    return l;
  });
  const configBytes = await readBlobFile(inside(dir, configPath, what), what);
  const config = parseImageConfig(configBytes, { where: `${what} config` });
  return { configBytes, config, layers: pairLayers(config, layerPaths.map((p) => inside(dir, p, what)), what) };
}

/**
 * Each layer as a gzip blob in the cache's store. A layer whose diff_id ferry compressed before is
 * taken from the cache without reading the engine's file; `skip` names diff_ids the caller will
 * take from elsewhere (base-image layers already in a registry).
 */
export async function importLayers(
  files: EngineImageFiles,
  cache: LayerCache,
  reporter: Reporter,
  skip: ReadonlySet<string> = new Set(),
): Promise<(ImportedLayer | undefined)[]> {
  const out: (ImportedLayer | undefined)[] = [];
  for (const layer of files.layers) {
    if (skip.has(layer.diffId)) {
      out.push(undefined);
      continue;
    }
    const key = importKey(layer.diffId);
    const hit = await cache.lookup(key);
    if (hit !== undefined && hit.diffId === layer.diffId) {
      out.push({ digest: hit.digest, size: hit.size, diffId: layer.diffId, mediaType: hit.mediaType, reused: true });
      continue;
    }
    const imported = await compressLayer(layer.file, layer.diffId, cache);
    reporter.info(`  layer ${shortDigest(imported.digest)} (${formatBytes(imported.size)}) from the engine`);
    await cache.put(key, { digest: imported.digest, diffId: imported.diffId, size: imported.size, mediaType: imported.mediaType });
    out.push(imported);
  }
  return out;
}

/** Cache key of "this diff_id, compressed by this version of ferry's gzip". */
export function importKey(diffId: string): string {
  return Digest.of(JSON.stringify(['ferry-engine-layer', 1, LAYER_FORMAT, diffId])).hex;
}

async function compressLayer(file: string, diffId: DigestString, cache: LayerCache): Promise<ImportedLayer> {
  const gz = await isGzip(file);
  const hash = new HashingStream();
  const writer = cache.blobs.writeStream({ what: `layer ${shortDigest(diffId)}` });
  const source = createReadStream(file);
  try {
    if (gz) await pipeline(source, zlib.createGunzip(), hash, new DeterministicGzip(), writer);
    else await pipeline(source, hash, new DeterministicGzip(), writer);
  } catch (e) {
    await writer.whenClosed();
    throw e instanceof FerryError ? e : badExport(`layer ${path.basename(file)}`, e instanceof Error ? e.message : String(e), e);
  }
  const info = writer.result();
  const digest = info.digest.toString();
  const got = hash.digest().toString();
  if (got !== diffId) {
    throw dataError('ENGINE_EXPORT_INVALID', `the engine's layer ${path.basename(file)} has diff_id ${got}, but its config says ${diffId}`, {
      suggestions: ['build again; if it repeats, the engine storage may be damaged (check it with `podman image inspect` or `docker image inspect`)'],
    });
  }
  return { digest, size: info.size, diffId, mediaType: MediaType.OCI_LAYER_GZIP, reused: false };
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function pairLayers(config: ImageConfig, files: string[], what: string): EngineImageFiles['layers'] {
  const ids = config.rootfs.diff_ids;
  if (ids.length !== files.length) throw badExport(what, `the config lists ${ids.length} layers but the export has ${files.length}`);
  return files.map((file, i) => ({ file, diffId: ids[i] as DigestString }));
}

async function readJson(file: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (e) {
    throw badExport(what, `${path.basename(file)} is missing or not JSON`, e);
  }
}

async function readBlobFile(file: string, what: string): Promise<Buffer> {
  try {
    const b = await readFile(file);
    if (b.byteLength > MAX_CONFIG_BYTES) throw new Error('config too large');
    return b;
  } catch (e) {
    throw badExport(what, `cannot read ${path.basename(file)}`, e);
  }
}

function stringAt(v: unknown, keys: string[], what: string): string {
  let cur: unknown = v;
  for (const k of keys) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  if (typeof cur !== 'string') throw badExport(what, `manifest.json has no ${keys.join('.')}`);
  return cur;
}

function arrayAt(v: unknown, keys: string[], what: string): unknown[] {
  let cur: unknown = v;
  for (const k of keys) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  if (!Array.isArray(cur)) throw badExport(what, `manifest.json has no ${keys.join('.')} list`);
  return cur as unknown[];
}

function hexOf(digest: string, what: string): string {
  if (!Digest.isValid(digest)) throw badExport(what, `${digest} is not a digest`);
  return Digest.parse(digest).hex;
}

/** A path named by the export, kept inside the export directory. */
function inside(dir: string, rel: string, what: string): string {
  const p = path.resolve(dir, rel);
  if (p !== dir && !p.startsWith(dir + path.sep)) throw badExport(what, `manifest.json names ${rel}, outside the export`);
  return p;
}

function badExport(what: string, detail: string, cause?: unknown): FerryError {
  return dataError('ENGINE_EXPORT_INVALID', `could not read the image exported by ${what}: ${detail}`, {
    ...(cause !== undefined ? { cause } : {}),
    suggestions: ['build again with --debug; if it repeats, report it with the engine name and version'],
  });
}
