/**
 * The registry client and push against a real distribution registry without authentication,
 * cross-checked with skopeo and podman.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushImage } from '../../src/registry/push.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeBaseImage, makeBusyboxLayout, makeRandomLayout, pushPartsOf, type TestLayout } from '../helpers/images.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { caught } from '../helpers/errors.js';

let reg: TestRegistry;
let client: RegistryClient;
let random: TestLayout;


async function skopeoInspect(ref: string, raw = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess('skopeo', ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', `docker://${ref}`], { timeoutMs: 60_000 });
}

beforeAll(async () => {
  reg = await startRegistry({ mode: 'open' });
  client = new RegistryClient(reg.host, { insecure: true, credentials: { kind: 'anonymous' } });
  random = await makeRandomLayout([3000, 5000]);
});

afterAll(async () => {
  await client.close();
  await reg.stop();
});

describe('push to an open registry', () => {
  it('pushes an image that skopeo reads back byte for byte, and a re-push uploads nothing', async () => {
    const img = random.images[0];
    if (img === undefined) throw new Error('no image');
    const events: string[] = [];
    const r = await pushImage({
      client,
      repository: 'team/app',
      ...pushPartsOf(img),
      tags: ['v1', 'latest'],
      onProgress: (e) => events.push(e.type),
    });
    expect(r.digest).toBe(img.manifest.digest);
    expect(r.uploaded).toBe(3);
    expect(r.skipped).toBe(0);
    expect(r.bytesUploaded).toBe(img.layers.reduce((n, l) => n + l.size, 0) + img.config.size);
    expect(r.requests).toBeGreaterThan(0);
    // the manifest went after every blob, the tags after the manifest
    expect(events.lastIndexOf('blob-done')).toBeLessThan(events.indexOf('manifest'));
    expect(events.indexOf('manifest')).toBeLessThan(events.indexOf('tag'));

    const inspect = await skopeoInspect(`${reg.host}/team/app:v1`);
    expect(inspect.code).toBe(0);
    const info = JSON.parse(inspect.stdout) as { Digest: string; RepoTags: string[]; Layers: string[] };
    expect(info.Digest).toBe(img.manifest.digest);
    expect(info.RepoTags.sort()).toEqual(['latest', 'v1']);
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));

    // copy back with skopeo: the same manifest and blobs come out
    const out = await mkdtemp(join(tmpdir(), 'ferry-copyback-'));
    const copy = await runProcess('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/team/app@${img.manifest.digest}`, `oci:${out}:x`], { timeoutMs: 60_000 });
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    const blobs = await readdir(join(out, 'blobs', 'sha256'));
    for (const l of img.layers) expect(blobs).toContain(l.digest.slice(7));
    expect(blobs).toContain(img.manifest.digest.slice(7));

    const again = await pushImage({ client, repository: 'team/app', ...pushPartsOf(img), tags: ['v1'] });
    expect(again.uploaded).toBe(0);
    expect(again.skipped).toBe(3);
    expect(again.bytesUploaded).toBe(0);
    expect(again.digest).toBe(r.digest);
  });

  it('mounts blobs across repositories of the same registry', async () => {
    const img = random.images[0];
    if (img === undefined) throw new Error('no image');
    const parts = pushPartsOf(img);
    const fromRegistry = (b: (typeof parts.layers)[number]): { descriptor: typeof b.descriptor; origin: { kind: 'registry'; client: RegistryClient; repository: string } } => ({
      descriptor: b.descriptor,
      origin: { kind: 'registry', client, repository: 'team/app' },
    });
    const r = await pushImage({
      client,
      repository: 'other/app',
      manifest: parts.manifest,
      config: fromRegistry(parts.config),
      layers: parts.layers.map(fromRegistry),
      tags: ['m'],
    });
    expect(r.mounted).toBe(3);
    expect(r.uploaded).toBe(0);
    expect((await skopeoInspect(`${reg.host}/other/app:m`)).code).toBe(0);
  });

  it('streams base layers across from another registry endpoint without a local copy', async () => {
    const img = random.images[0];
    if (img === undefined) throw new Error('no image');
    // The proxy is a different endpoint, so ferry cannot mount from it: it has to stream.
    const proxy: FaultProxy = await startFaultProxy(reg.url);
    const source = new RegistryClient(proxy.host, { insecure: true, credentials: { kind: 'anonymous' } });
    try {
      const parts = pushPartsOf(img);
      const fromSource = (b: (typeof parts.layers)[number]): { descriptor: typeof b.descriptor; origin: { kind: 'registry'; client: RegistryClient; repository: string } } => ({
        descriptor: b.descriptor,
        origin: { kind: 'registry', client: source, repository: 'team/app' },
      });
      const r = await pushImage({
        client,
        repository: 'copied/app',
        manifest: parts.manifest,
        config: fromSource(parts.config),
        layers: parts.layers.map(fromSource),
        tags: ['c'],
      });
      expect(r.uploaded).toBe(3);
      expect(r.mounted).toBe(0);
      expect(proxy.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/sha256:')).length).toBe(3);
      expect((await skopeoInspect(`${reg.host}/copied/app:c`)).code).toBe(0);
    } finally {
      await source.close();
      await proxy.stop();
    }
  });

  it('uploads large blobs in chunks', async () => {
    const layout = await makeRandomLayout([300 * 1024]);
    const img = layout.images[0];
    if (img === undefined) throw new Error('no image');
    const chunky = new RegistryClient(reg.host, { insecure: true, credentials: { kind: 'anonymous' }, chunkSize: 64 * 1024 });
    try {
      const r = await pushImage({ client: chunky, repository: 'team/chunked', ...pushPartsOf(img), tags: ['v1'] });
      expect(r.uploaded).toBe(2);
      const layer = img.layers[0];
      if (layer === undefined) throw new Error('no layer');
      expect(chunky.http.stats.byMethod.PATCH).toBe(Math.ceil(layer.size / (64 * 1024)));
      const info = JSON.parse((await skopeoInspect(`${reg.host}/team/chunked:v1`)).stdout) as { Layers: string[] };
      expect(info.Layers).toEqual([layer.digest]);
    } finally {
      await chunky.close();
    }
  });

  it('uploads a stream of unknown digest, computing the digest in the same pass', async () => {
    const data = randomBytes(200_000);
    const expected = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const r = await client.uploadBlobStreaming('team/stream', Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]));
    expect(r).toEqual({ digest: expected, size: data.length });
    expect(await client.blobExists('team/stream', expected)).toBe(true);
    const back = await client.getBlob('team/stream', { digest: expected, size: data.length });
    const chunks: Buffer[] = [];
    for await (const c of back as AsyncIterable<Buffer>) chunks.push(c);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('pushes a busybox image that podman runs', async () => {
    const layout = await makeBusyboxLayout();
    const img = layout.images[0];
    if (img === undefined) throw new Error('no image');
    const r = await pushImage({ client, repository: 'run/busybox', ...pushPartsOf(img), tags: ['v1'] });
    const ref = `${reg.host}/run/busybox@${r.digest}`;
    const run = await runProcess('podman', ['run', '--rm', '--tls-verify=false', '--pull=always', ref, 'echo', 'hello from ferry'], { timeoutMs: 120_000 });
    expect(run.stdout.trim()).toBe('hello from ferry');
    expect(run.code).toBe(0);
    await runProcess('podman', ['rmi', '-f', ref], { timeoutMs: 60_000 });
  });
});

describe('reading from an open registry', () => {
  it('reads manifests by tag and by digest, verifying the digest, and HEADs them', async () => {
    const img = random.images[0];
    if (img === undefined) throw new Error('no image');
    const byTag = await client.getManifest('team/app', 'v1');
    expect(byTag.digest).toBe(img.manifest.digest);
    expect(byTag.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(byTag.bytes.equals(img.manifest.bytes)).toBe(true);
    const byDigest = await client.getManifest('team/app', img.manifest.digest);
    expect(byDigest.digest).toBe(img.manifest.digest);
    expect(await client.headManifest('team/app', 'v1')).toEqual({
      digest: img.manifest.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: img.manifest.size,
    });
    expect(await client.headManifest('team/app', 'nope')).toBeUndefined();
  });

  it('reads a multi-platform index pushed by skopeo, and its children', async () => {
    const base = await makeBaseImage(reg, 'base/multi', 'v1', { multiPlatform: true });
    const index = await client.getManifest('base/multi', 'v1');
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.digest).toBe(base.digest);
    const parsed = JSON.parse(index.bytes.toString('utf8')) as { manifests: { digest: string; platform: { architecture: string } }[] };
    expect(parsed.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    for (const m of parsed.manifests) {
      const child = await client.getManifest('base/multi', m.digest);
      expect(child.digest).toBe(m.digest);
    }
  });

  it('reads Docker schema 2 manifests too', async () => {
    const base = await makeBaseImage(reg, 'base/docker', 'oci');
    const converted = await runProcess(
      'skopeo',
      ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--format', 'v2s2', `docker://${base.ref}`, `docker://${reg.host}/base/docker:v2s2`],
      { timeoutMs: 60_000 },
    );
    expect(converted.code).toBe(0);
    const m = await client.getManifest('base/docker', 'v2s2');
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const head = await client.headManifest('base/docker', 'v2s2');
    expect(head?.digest).toBe(m.digest);
  });

  it('bounds manifest size', async () => {
    const small = new RegistryClient(reg.host, { insecure: true, credentials: { kind: 'anonymous' }, maxManifestBytes: 100 });
    try {
      const err = await caught(small.getManifest('team/app', 'v1'));
      expect(err.code).toBe('REGISTRY_MANIFEST_TOO_LARGE');
      expect(err.exitCode).toBe(65);
    } finally {
      await small.close();
    }
  });

  it('answers REGISTRY_NOT_FOUND for unknown manifests and blobs', async () => {
    const m = await caught(client.getManifest('team/app', 'does-not-exist'));
    expect(m.code).toBe('REGISTRY_NOT_FOUND');
    expect(m.exitCode).toBe(65);
    const b = await caught(client.getBlob('team/app', `sha256:${'0'.repeat(64)}`));
    expect(b.code).toBe('REGISTRY_NOT_FOUND');
    expect(await client.blobExists('team/app', `sha256:${'0'.repeat(64)}`)).toBe(false);
  });

  it('detects a corrupted blob in registry storage while streaming it', async () => {
    const layout = await makeRandomLayout([4000]);
    const img = layout.images[0];
    const layer = img?.layers[0];
    if (img === undefined || layer === undefined) throw new Error('no image');
    await pushImage({ client, repository: 'team/corrupt', ...pushPartsOf(img) });
    const hex = layer.digest.slice(7);
    const dataPath = join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const original = await readFile(dataPath);
    const bad = Buffer.from(original);
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    await writeFile(dataPath, bad);
    const stream = await client.getBlob('team/corrupt', layer);
    const err = await caught(
      (async () => {
        for await (const _ of stream as AsyncIterable<Buffer>) {
          // drain
        }
      })(),
    );
    expect(err.code).toBe('REGISTRY_DIGEST_MISMATCH');
    expect(err.exitCode).toBe(65);
  });
});

describe('transport failures', () => {
  it('connection refused is REGISTRY_UNREACHABLE (69)', async () => {
    const port = await freePort();
    const dead = new RegistryClient(`127.0.0.1:${port}`, { insecure: true, credentials: { kind: 'anonymous' } });
    try {
      const err = await caught(dead.blobExists('a/b', `sha256:${'0'.repeat(64)}`));
      expect(err.code).toBe('REGISTRY_UNREACHABLE');
      expect(err.exitCode).toBe(69);
    } finally {
      await dead.close();
    }
  });

  it('TLS to a plain-HTTP registry fails clearly (69) unless it is marked insecure', async () => {
    const tls = new RegistryClient(reg.host, { credentials: { kind: 'anonymous' } });
    try {
      const err = await caught(tls.blobExists('a/b', `sha256:${'0'.repeat(64)}`));
      expect(err.code).toBe('HTTP_TLS_FAILED');
      expect(err.exitCode).toBe(69);
    } finally {
      await tls.close();
    }
  });
});
