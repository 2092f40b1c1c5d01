/**
 * Pushing through a fault-injecting proxy in front of a real registry: connection resets in the
 * middle of a blob, 429 with Retry-After, 500s. The push either completes correctly or fails with
 * exit 75 without writing any tag.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { RegistryClient } from '../../src/registry/client.js';
import { pushImage } from '../../src/registry/push.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeRandomLayout, pushPartsOf, type LayoutImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { caught } from '../helpers/errors.js';

let reg: TestRegistry;
let proxy: FaultProxy;
/** Direct client, to check what the registry holds. */
let direct: RegistryClient;
let n = 0;

function viaProxy(opts: { chunkSize?: number; attempts?: number } = {}): RegistryClient {
  // Short delays keep the test quick; Retry-After is still honoured (capped at 2 s here).
  return new RegistryClient(proxy.host, {
    insecure: true,
    credentials: { kind: 'anonymous' },
    retry: { attempts: opts.attempts ?? 5, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 2000 },
    ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }),
  });
}

async function freshImage(sizes: number[]): Promise<LayoutImage> {
  const layout = await makeRandomLayout(sizes);
  const img = layout.images[0];
  if (img === undefined) throw new Error('no image');
  return img;
}


async function skopeoDigest(ref: string): Promise<string | undefined> {
  const r = await runProcess('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { timeoutMs: 60_000 });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { Digest: string }).Digest;
}

beforeAll(async () => {
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  direct = new RegistryClient(reg.host, { insecure: true, credentials: { kind: 'anonymous' } });
});

afterAll(async () => {
  await direct.close();
  await proxy.stop();
  await reg.stop();
});

beforeEach(() => {
  n++;
  proxy.setRules([]);
});

describe('push through faults', () => {
  it('survives a connection reset in the middle of a monolithic blob upload', async () => {
    const img = await freshImage([50_000]);
    proxy.setRules([{ method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'reset', afterBytes: 10_000 }, times: 1 }]);
    const client = viaProxy();
    try {
      const repo = `faults/reset${n}`;
      const r = await pushImage({ client, repository: repo, ...pushPartsOf(img), tags: ['v1'] });
      expect(proxy.fired[0]).toBe(1);
      expect(r.uploaded).toBe(2);
      expect(r.digest).toBe(img.manifest.digest);
      expect(await skopeoDigest(`${reg.host}/${repo}:v1`)).toBe(img.manifest.digest);
    } finally {
      await client.close();
    }
  });

  it('survives a connection reset in the middle of a chunked PATCH', async () => {
    const img = await freshImage([200_000]);
    proxy.setRules([{ method: 'PATCH', action: { kind: 'reset', afterBytes: 20_000 }, skip: 1, times: 1 }]);
    const client = viaProxy({ chunkSize: 64 * 1024 });
    try {
      const repo = `faults/chunkreset${n}`;
      const r = await pushImage({ client, repository: repo, ...pushPartsOf(img), tags: ['v1'] });
      expect(proxy.fired[0]).toBe(1);
      expect(r.digest).toBe(img.manifest.digest);
      const info = await runProcess('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/${repo}:v1`]);
      expect((JSON.parse(info.stdout) as { Layers: string[] }).Layers).toEqual(img.layers.map((l) => l.digest));
      // the blob in the registry is the right one, byte for byte
      const layer = img.layers[0];
      if (layer === undefined) throw new Error('no layer');
      const back = await direct.getBlob(repo, layer);
      let size = 0;
      for await (const c of back as AsyncIterable<Buffer>) size += c.length;
      expect(size).toBe(layer.size);
    } finally {
      await client.close();
    }
  });

  it('honours 429 with Retry-After and 500s on the way', async () => {
    const img = await freshImage([2000, 3000]);
    proxy.setRules([
      { method: 'HEAD', path: /\/blobs\//, action: { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, times: 1 },
      { method: 'POST', path: /\/blobs\/uploads\//, action: { kind: 'status', status: 500 }, times: 2 },
      { method: 'PUT', path: /\/manifests\//, action: { kind: 'status', status: 503 }, times: 1 },
    ]);
    const client = viaProxy();
    try {
      const repo = `faults/status${n}`;
      const r = await pushImage({ client, repository: repo, ...pushPartsOf(img), tags: ['v1'] });
      expect(proxy.fired).toEqual([1, 2, 1]);
      expect(client.http.stats.retries).toBeGreaterThanOrEqual(4);
      expect(await skopeoDigest(`${reg.host}/${repo}:v1`)).toBe(r.digest);
    } finally {
      await client.close();
    }
  });

  it('fails with exit 75 and writes no tag when blob uploads keep failing', async () => {
    const img = await freshImage([2000]);
    proxy.setRules([{ method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'status', status: 500 }, times: Infinity }]);
    const client = viaProxy({ attempts: 3 });
    const repo = `faults/persistent${n}`;
    try {
      const err = await caught(pushImage({ client, repository: repo, ...pushPartsOf(img), tags: ['v1'] }));
      expect(err.code).toBe('REGISTRY_UNAVAILABLE');
      expect(err.exitCode).toBe(75);
    } finally {
      await client.close();
    }
    expect(proxy.requests.some((q) => q.method === 'PUT' && q.path.includes(`/${repo}/manifests/`))).toBe(false);
    expect(await direct.headManifest(repo, 'v1')).toBeUndefined();
    expect(await skopeoDigest(`${reg.host}/${repo}:v1`)).toBeUndefined();
  });

  it('fails with exit 75 and writes no tag when the manifest PUT keeps failing', async () => {
    const img = await freshImage([2000]);
    proxy.setRules([{ method: 'PUT', path: /\/manifests\//, action: { kind: 'status', status: 502 }, times: Infinity }]);
    const client = viaProxy({ attempts: 3 });
    const repo = `faults/manifest${n}`;
    try {
      const err = await caught(pushImage({ client, repository: repo, ...pushPartsOf(img), tags: ['v1'] }));
      expect(err.code).toBe('REGISTRY_UNAVAILABLE');
      expect(err.exitCode).toBe(75);
      expect(err.details?.status).toBe(502);
    } finally {
      await client.close();
    }
    // the blobs made it, the image is not tagged
    expect(await direct.blobExists(repo, img.config.digest)).toBe(true);
    expect(await direct.headManifest(repo, 'v1')).toBeUndefined();
    expect(await skopeoDigest(`${reg.host}/${repo}:v1`)).toBeUndefined();
  });
});
