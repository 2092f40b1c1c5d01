/**
 * The native builder's image configs against BuildKit's: the 39 multi-stage cases recorded from
 * BuildKit v0.34.2 (test/fixtures/dockerfiles/buildkit-reference.json, `configs`) are built by
 * buildNative itself, on a real registry holding an "alpine" with the same config the recording
 * used (Env PATH=/usr/bin:/bin HOME=/root, Cmd /bin/sh, and /etc/hostname).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNative } from '../../src/builders/native/builder.js';
import { silentReporter } from '../../src/core/context.js';
import { isFerryError } from '../../src/core/errors.js';
import { encodeJson } from '../../src/image/json-blob.js';
import { LayerCache } from '../../src/image/layer-cache.js';
import { writeLayer } from '../../src/image/layer.js';
import { Digest } from '../../src/image/digest.js';
import { pushImage } from '../../src/registry/push.js';
import { SharedRegistryPool } from '../../src/services/registries.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

interface ConfigCase {
  name: string;
  text: string;
  buildArgs?: Record<string, string>;
  target?: string;
  error?: boolean;
  config?: Record<string, unknown>;
}

const ref = JSON.parse(readFileSync(path.join(import.meta.dirname, '../fixtures/dockerfiles/buildkit-reference.json'), 'utf8')) as { configs: ConfigCase[] };

let reg: TestRegistry;
let pool: SharedRegistryPool;
let cache: LayerCache;
let work: string;

beforeAll(async () => {
  reg = await startRegistry({ mode: 'open' });
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bk-configs-'));
  cache = await LayerCache.open(path.join(work, 'cache'));
  pool = new SharedRegistryPool({ registries: { [reg.host]: { insecure: true } }, reporter: silentReporter, env: {} });
  await writeFile(path.join(work, 'hostname'), 'alpine\n');
  const layer = await writeLayer([{ path: 'etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, source: path.join(work, 'hostname') }], {
    mtime: 0,
    store: cache.blobs,
  });
  const config = encodeJson({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin', 'HOME=/root'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  });
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: Digest.of(config).toString(), size: config.byteLength };
  const layerDesc = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  const manifest = encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] });
  await pushImage({
    client: pool.client(reg.host),
    repository: 'library/alpine',
    manifest: { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    config: { descriptor: configDesc, origin: { kind: 'bytes', bytes: config } },
    layers: [{ descriptor: layerDesc, origin: { kind: 'file', path: cache.blobs.path(layer.digest) } }],
    tags: ['latest', '3'],
  });
});

afterAll(async () => {
  await pool.close();
  await reg.stop();
});

describe('native builds give the image config BuildKit gives', () => {
  it.each(ref.configs.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const dir = await mkdtemp(path.join(work, `${name}-`));
    // "alpine" is an image name in these Dockerfiles (never a stage name), so point it at the registry.
    await writeFile(path.join(dir, 'Dockerfile'), c.text.replace(/\balpine\b/g, `${reg.host}/library/alpine`));
    const build = buildNative({
      dockerfile: path.join(dir, 'Dockerfile'),
      dockerfileDisplay: 'Dockerfile',
      contextDir: dir,
      platform: { os: 'linux', architecture: 'amd64' },
      buildArgs: c.buildArgs ?? {},
      target: c.target,
      noCache: false,
      epoch: 0,
      cache,
      registries: pool,
      reporter: silentReporter,
    });
    if (c.error === true) {
      const err: unknown = await build.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isFerryError(err) && err.exitCode === 65).toBe(true);
      return;
    }
    const got: Record<string, unknown> = { ...(await build).config.config };
    const want: Record<string, unknown> = { ...(c.config ?? {}) };
    // BuildKit stores a cleared entrypoint as null; ferry leaves the key out.
    if (want['Entrypoint'] === null) delete want['Entrypoint'];
    expect(got).toEqual(want);
  });
});
