/**
 * An OCI image layout directory (image-spec "image-layout.md"): `oci-layout`, `index.json` and
 * `blobs/<alg>/<hex>`. It is what `ferry build` writes by default and what skopeo, podman, crane
 * and buildah read as `oci:DIR[:TAG]`.
 *
 * Tags are the `org.opencontainers.image.ref.name` annotation of index.json entries, one entry per
 * tag, as skopeo writes them; writing a tag moves it from any other entry. index.json is replaced
 * atomically (temp file + rename), so a reader never sees it half-written; two ferry processes
 * writing one layout at the same moment can still lose one's update (last writer wins).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataError, type FerryError } from '../core/errors.js';
import { BlobStore, errnoCode, storeError, type CopyOutcome } from './blob-store.js';
import { Digest, type DigestString } from './digest.js';
import { encodeJson } from './json-blob.js';
import { ShapeChecker } from './shape.js';
import { MediaType, isForeignLayerMediaType, isIndexMediaType } from './media-types.js';
import {
  ANNOTATION_REF_NAME,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseImageConfig,
  parseImageManifest,
  parseManifestOrIndex,
  validateImageIndex,
  validateImageManifest,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ManifestOrIndex,
  type Platform,
} from './types.js';

export const OCI_LAYOUT_VERSION = '1.0.0';

// image-spec annotations.md: the grammar of org.opencontainers.image.ref.name.
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export interface WriteImageInput {
  /** The manifest, as an object (serialised compactly) or as the exact bytes to store. */
  manifest: ImageManifest | Uint8Array;
  /** The config's bytes, when they are not already in `source`. */
  config?: Uint8Array;
  /** Where the config and layer blobs are (typically the layer cache's store). */
  source?: BlobStore;
  /** Names for this image in index.json; none leaves it untagged. */
  tags?: readonly string[];
  /** Recorded on the index entry, so tools can pick by platform without reading the config. */
  platform?: Platform;
}

export interface WriteImageResult {
  descriptor: Descriptor;
  /** What happened to each blob: already there, hard-linked, or copied. */
  blobs: { digest: DigestString; outcome: CopyOutcome | 'written' }[];
}

export class OciLayout {
  readonly blobs: BlobStore;

  private constructor(readonly dir: string) {
    this.blobs = new BlobStore(dir);
  }

  /** Open a layout, creating it (or the missing files of an empty directory) if needed. */
  static async create(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    try {
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    } catch (e) {
      throw storeError('create', dir, e);
    }
    const marker = await readOptional(join(dir, 'oci-layout'));
    if (marker === undefined) await writeAtomic(join(dir, 'oci-layout'), encodeJson({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    else checkMarker(marker, dir);
    if ((await readOptional(join(dir, 'index.json'))) === undefined) {
      await layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] });
    }
    return layout;
  }

  /** Open an existing layout; IMAGE_BAD_LAYOUT if `dir` is not one. */
  static async open(dir: string): Promise<OciLayout> {
    const marker = await readOptional(join(dir, 'oci-layout'));
    if (marker === undefined) {
      throw dataError('IMAGE_BAD_LAYOUT', `${dir} is not an OCI image layout (it has no oci-layout file)`, {
        where: dir,
        suggestions: ['build into it first with `ferry build --output oci:DIR`'],
      });
    }
    checkMarker(marker, dir);
    return new OciLayout(dir);
  }

  async readIndex(): Promise<ImageIndex> {
    const bytes = await readOptional(join(this.dir, 'index.json'));
    if (bytes === undefined) throw dataError('IMAGE_BAD_LAYOUT', `${this.dir} has no index.json`, { where: this.dir });
    const where = join(this.dir, 'index.json');
    return validateImageIndex(new ShapeChecker('IMAGE_BAD_LAYOUT', 'index.json', where).decodeJson(bytes, MAX_MANIFEST_BYTES), { where });
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    await writeAtomic(join(this.dir, 'index.json'), encodeJson(index));
  }

  /**
   * Put an image in the layout: its config and layers (hard-linked from `source` where possible),
   * then the manifest, then the index entry, in that order, so index.json never names an image
   * whose blobs are not all there.
   */
  async writeImage(input: WriteImageInput): Promise<WriteImageResult> {
    const tags = input.tags ?? [];
    for (const t of tags) checkRefName(t);
    const manifestBytes = input.manifest instanceof Uint8Array ? Buffer.from(input.manifest) : encodeJson(input.manifest);
    const manifest = input.manifest instanceof Uint8Array ? parseImageManifest(manifestBytes) : validateImageManifest(input.manifest);
    const blobs: WriteImageResult['blobs'] = [];

    if (input.config !== undefined) {
      await this.blobs.putBytes(input.config, { expectedDigest: manifest.config.digest, expectedSize: manifest.config.size, what: 'image config' });
      blobs.push({ digest: manifest.config.digest, outcome: 'written' });
    } else {
      blobs.push({ digest: manifest.config.digest, outcome: await this.#bring(manifest.config, input.source) });
    }
    for (const layer of manifest.layers) {
      // Foreign layers are fetched from their URLs by whoever runs the image; they need not be here.
      if (isForeignLayerMediaType(layer.mediaType) && !(await this.#available(layer, input.source))) continue;
      blobs.push({ digest: layer.digest, outcome: await this.#bring(layer, input.source) });
    }
    const { digest } = await this.blobs.putBytes(manifestBytes, { what: 'image manifest' });

    const descriptor: Descriptor = {
      mediaType: manifest.mediaType ?? MediaType.OCI_MANIFEST,
      digest: digest.toString(),
      size: manifestBytes.byteLength,
    };
    if (input.platform !== undefined) descriptor.platform = input.platform;
    await this.#addToIndex(descriptor, tags);
    blobs.push({ digest: digest.toString(), outcome: 'written' });
    return { descriptor, blobs };
  }

  /**
   * The index entry for a tag (ref.name), a digest, or, with no reference, the only entry.
   * IMAGE_NOT_IN_LAYOUT if there is none; IMAGE_LAYOUT_AMBIGUOUS if no reference was given and
   * there are several.
   */
  async resolve(reference?: string): Promise<Descriptor> {
    const index = await this.readIndex();
    if (reference === undefined) {
      const [only, ...rest] = index.manifests;
      if (only !== undefined && rest.length === 0) return only;
      if (only === undefined) throw notInLayout(this.dir, 'it has no images');
      const names = index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).filter((n) => n !== undefined);
      throw dataError('IMAGE_LAYOUT_AMBIGUOUS', `${this.dir} holds ${index.manifests.length} images; say which one`, {
        where: this.dir,
        suggestions: names.length > 0 ? [`use one of the tags: ${names.join(', ')}`] : ['use a digest'],
      });
    }
    const found = Digest.isValid(reference)
      ? index.manifests.find((m) => m.digest === reference)
      : index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === reference);
    if (found === undefined) throw notInLayout(this.dir, `nothing is named ${JSON.stringify(reference)}`);
    return found;
  }

  async readManifestOrIndex(desc: Descriptor): Promise<ManifestOrIndex> {
    const bytes = await this.blobs.readBytes(desc.digest, MAX_MANIFEST_BYTES);
    return parseManifestOrIndex(bytes, { where: `${this.dir}@${desc.digest}`, contentType: desc.mediaType });
  }

  async readManifest(digest: DigestString): Promise<ImageManifest> {
    return parseImageManifest(await this.blobs.readBytes(digest, MAX_MANIFEST_BYTES), { where: `${this.dir}@${digest}` });
  }

  async readConfig(digest: DigestString): Promise<ImageConfig> {
    return parseImageConfig(await this.blobs.readBytes(digest, MAX_CONFIG_BYTES), { where: `${this.dir}@${digest}` });
  }

  async #available(desc: Descriptor, source: BlobStore | undefined): Promise<boolean> {
    if (await this.blobs.has(desc.digest)) return true;
    return source === undefined ? false : source.has(desc.digest);
  }

  async #bring(desc: Descriptor, source: BlobStore | undefined): Promise<CopyOutcome> {
    if (await this.blobs.has(desc.digest, desc.size)) return 'present';
    if (source === undefined) {
      throw dataError('IMAGE_BLOB_NOT_FOUND', `blob ${desc.digest} is neither in ${this.dir} nor given`, { where: this.dir });
    }
    const size = await source.size(desc.digest);
    if (size === undefined) throw dataError('IMAGE_BLOB_NOT_FOUND', `blob ${desc.digest} is not in ${source.root}`, { where: source.root });
    if (size !== desc.size) {
      throw dataError('IMAGE_SIZE_MISMATCH', `blob ${desc.digest} in ${source.root} is ${size} bytes, but the manifest says ${desc.size}`, { where: source.root });
    }
    return source.copyTo(this.blobs, desc.digest);
  }

  async #addToIndex(desc: Descriptor, tags: readonly string[]): Promise<void> {
    const index = await this.readIndex();
    const taken = new Set(tags);
    const kept = index.manifests.filter((m) => {
      const name = m.annotations?.[ANNOTATION_REF_NAME];
      if (name !== undefined) return !taken.has(name);
      // An untagged entry for the same manifest is replaced by the new entry (or entries).
      return m.digest !== desc.digest;
    });
    const added: Descriptor[] =
      tags.length === 0 ? [desc] : tags.map((t) => ({ ...desc, annotations: { ...desc.annotations, [ANNOTATION_REF_NAME]: t } }));
    await this.writeIndex({ ...index, mediaType: index.mediaType ?? MediaType.OCI_INDEX, manifests: [...kept, ...added] });
  }
}

/** Check a tag against the ref.name grammar; IMAGE_BAD_REF_NAME (65) if it does not fit. */
export function checkRefName(name: string): void {
  if (!REF_NAME_RE.test(name)) {
    throw dataError('IMAGE_BAD_REF_NAME', `${JSON.stringify(name)} is not a valid name for an image in an OCI layout`, {
      suggestions: ['use letters, digits and . _ - : @ + / between them, e.g. "latest" or "v1.2.0"'],
    });
  }
}

/** Whether a descriptor names an index rather than a single image. */
export function isIndexDescriptor(desc: Descriptor): boolean {
  return isIndexMediaType(desc.mediaType);
}

function checkMarker(bytes: Buffer, dir: string): void {
  let version: unknown;
  try {
    version = (JSON.parse(bytes.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch (e) {
    throw dataError('IMAGE_BAD_LAYOUT', `${join(dir, 'oci-layout')} is not valid JSON`, { where: dir, cause: e });
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw dataError('IMAGE_BAD_LAYOUT', `${dir} is an OCI layout of version ${JSON.stringify(version)}; ferry reads 1.x`, { where: dir });
  }
}

function notInLayout(dir: string, why: string): FerryError {
  return dataError('IMAGE_NOT_IN_LAYOUT', `no such image in ${dir}: ${why}`, { where: dir });
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw storeError('read', path, e);
  }
}

async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(8).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw storeError('write', path, e);
  }
}
