import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/image/blob-store.js';
import { Digest } from '../../src/image/digest.js';
import { jsonBlob } from '../../src/image/json-blob.js';
import { writeLayer } from '../../src/image/layer.js';
import { MediaType } from '../../src/image/media-types.js';
import { OciLayout, checkRefName, isIndexDescriptor } from '../../src/image/oci-layout.js';
import type { ImageConfig, ImageManifest } from '../../src/image/types.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-layout-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const fresh = (name: string): string => join(root, `${name}-${n++}`);

/** A one-layer image whose blobs are in `store`, as the builder would leave it. */
async function makeImage(store: BlobStore, text = 'hi'): Promise<{ manifest: ImageManifest; config: ImageConfig }> {
  const src = fresh('src');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'hello.txt'), text);
  const layer = await writeLayer([{ path: 'hello.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(src, 'hello.txt') }], { mtime: 0, store });
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['cat', '/hello.txt'] },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  };
  const cfg = jsonBlob(MediaType.OCI_CONFIG, config);
  await store.putBytes(cfg.bytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: cfg.descriptor,
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  };
  return { manifest, config };
}

describe('OciLayout', () => {
  it('creates the layout files', async () => {
    const dir = fresh('layout');
    await OciLayout.create(dir);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))).toEqual({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] });
    // Creating again keeps what is there.
    const again = await OciLayout.create(dir);
    expect((await again.readIndex()).manifests).toEqual([]);
  });

  it('writes an image with hard-linked blobs and a tagged index entry, and reads it back', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest, config } = await makeImage(store);
    const layout = await OciLayout.create(fresh('layout'));
    const res = await layout.writeImage({ manifest, source: store, tags: ['latest'], platform: { os: 'linux', architecture: 'amd64' } });
    expect(res.blobs.map((b) => b.outcome)).toEqual(['linked', 'linked', 'written']);
    const layerDigest = manifest.layers[0]?.digest ?? '';
    expect((await stat(layout.blobs.path(layerDigest))).ino).toBe((await stat(store.path(layerDigest))).ino);

    const index = await layout.readIndex();
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.OCI_MANIFEST,
        digest: res.descriptor.digest,
        size: res.descriptor.size,
        platform: { os: 'linux', architecture: 'amd64' },
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ]);
    const desc = await layout.resolve('latest');
    expect(desc.digest).toBe(res.descriptor.digest);
    expect((await layout.resolve()).digest).toBe(res.descriptor.digest);
    expect((await layout.resolve(res.descriptor.digest)).digest).toBe(res.descriptor.digest);
    expect(await layout.readManifest(desc.digest)).toEqual(manifest);
    expect(await layout.readConfig(manifest.config.digest)).toEqual(config);
    const either = await layout.readManifestOrIndex(desc);
    expect(either.kind).toBe('manifest');
    expect(isIndexDescriptor(desc)).toBe(false);
    // The manifest blob is the exact bytes whose digest the index names.
    expect(Digest.of(await readFile(layout.blobs.path(desc.digest))).toString()).toBe(desc.digest);
  });

  it('moves a tag to the new image and keeps other tags, writing the manifest bytes given', async () => {
    const store = new BlobStore(fresh('cache'));
    const one = await makeImage(store, 'one');
    const two = await makeImage(store, 'two');
    const layout = await OciLayout.create(fresh('layout'));
    const a = await layout.writeImage({ manifest: one.manifest, source: store, tags: ['latest', 'v1'] });
    const bytes = Buffer.from(JSON.stringify(two.manifest, null, 2));
    const b = await layout.writeImage({ manifest: bytes, source: store, tags: ['latest'] });
    expect(b.descriptor.digest).toBe(Digest.of(bytes).toString());
    const names = (await layout.readIndex()).manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]);
    expect(names).toEqual([
      ['v1', a.descriptor.digest],
      ['latest', b.descriptor.digest],
    ]);
    await expect(layout.resolve()).rejects.toMatchObject({ code: 'IMAGE_LAYOUT_AMBIGUOUS', exitCode: 65 });
    // The same untagged image twice gives one entry.
    await layout.writeImage({ manifest: one.manifest, source: store });
    await layout.writeImage({ manifest: one.manifest, source: store });
    expect((await layout.readIndex()).manifests.filter((m) => m.annotations === undefined)).toHaveLength(1);
  });

  it('writes config bytes given directly, checking them against the manifest', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest, config } = await makeImage(store);
    const layout = await OciLayout.create(fresh('layout'));
    const cfgBytes = jsonBlob(MediaType.OCI_CONFIG, config).bytes;
    const res = await layout.writeImage({ manifest, config: cfgBytes, source: store });
    expect(res.blobs[0]).toEqual({ digest: manifest.config.digest, outcome: 'written' });
    const tampered = Buffer.from(cfgBytes.toString().replace('amd64', 'arm64'));
    await expect(layout.writeImage({ manifest, config: tampered, source: store })).rejects.toMatchObject({ code: 'IMAGE_DIGEST_MISMATCH' });
    await expect(layout.writeImage({ manifest, config: Buffer.from('{}'), source: store })).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
  });

  it('fails without touching index.json when a blob is missing', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest } = await makeImage(store);
    const layout = await OciLayout.create(fresh('layout'));
    await expect(layout.writeImage({ manifest, source: new BlobStore(fresh('empty')) })).rejects.toMatchObject({ code: 'IMAGE_BLOB_NOT_FOUND' });
    await expect(layout.writeImage({ manifest })).rejects.toMatchObject({ code: 'IMAGE_BLOB_NOT_FOUND' });
    expect((await layout.readIndex()).manifests).toEqual([]);
  });

  it('skips foreign layers that are not available', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest } = await makeImage(store);
    const foreign = { mediaType: MediaType.DOCKER_FOREIGN_LAYER_GZIP, digest: `sha256:${'f'.repeat(64)}` as const, size: 10, urls: ['https://example.com/l'] };
    const layout = await OciLayout.create(fresh('layout'));
    const res = await layout.writeImage({ manifest: { ...manifest, layers: [...manifest.layers, foreign] }, source: store });
    expect(res.blobs.map((b) => b.digest)).not.toContain(foreign.digest);
  });

  it('refuses a blob whose size differs from the manifest', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest } = await makeImage(store);
    const layer = manifest.layers[0];
    if (layer === undefined) throw new Error('no layer');
    const layout = await OciLayout.create(fresh('layout'));
    await expect(layout.writeImage({ manifest: { ...manifest, layers: [{ ...layer, size: layer.size + 1 }] }, source: store })).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
  });

  it('rejects bad tags', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest } = await makeImage(store);
    const layout = await OciLayout.create(fresh('layout'));
    for (const bad of ['', 'has space', '-lead', 'trail-', 'a//b', 'ü']) {
      expect(() => {
        checkRefName(bad);
      }).toThrow(expect.objectContaining({ code: 'IMAGE_BAD_REF_NAME', exitCode: 65 }));
    }
    for (const good of ['latest', 'v1.2.3', 'registry.example.com/team/app:1.0', 'a--b', 'x@y']) checkRefName(good);
    await expect(layout.writeImage({ manifest, source: store, tags: ['bad tag'] })).rejects.toMatchObject({ code: 'IMAGE_BAD_REF_NAME' });
  });

  it('opens only real layouts', async () => {
    const empty = fresh('nolayout');
    await mkdir(empty, { recursive: true });
    await expect(OciLayout.open(empty)).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT', exitCode: 65 });
    await writeFile(join(empty, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(OciLayout.open(empty)).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT' });
    await writeFile(join(empty, 'oci-layout'), 'nope');
    await expect(OciLayout.open(empty)).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT' });
    await expect(OciLayout.create(empty)).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT' });
    await writeFile(join(empty, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const layout = await OciLayout.open(empty);
    await expect(layout.readIndex()).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT' });
    await writeFile(join(empty, 'index.json'), '{"schemaVersion":2,"manifests":"x"}');
    await expect(layout.readIndex()).rejects.toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
    await writeFile(join(empty, 'index.json'), '{not json');
    await expect(layout.readIndex()).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYOUT' });
  });

  it('reports unknown names and empty layouts as IMAGE_NOT_IN_LAYOUT', async () => {
    const layout = await OciLayout.create(fresh('layout'));
    await expect(layout.resolve()).rejects.toMatchObject({ code: 'IMAGE_NOT_IN_LAYOUT' });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ code: 'IMAGE_NOT_IN_LAYOUT' });
  });

  it('leaves no temp files after writing', async () => {
    const store = new BlobStore(fresh('cache'));
    const { manifest } = await makeImage(store);
    const dir = fresh('layout');
    const layout = await OciLayout.create(dir);
    await layout.writeImage({ manifest, source: store, tags: ['t'] });
    expect((await readdir(dir)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    expect((await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
