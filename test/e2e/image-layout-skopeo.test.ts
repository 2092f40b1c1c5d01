/**
 * Cross-checks of the image model against independent tools: skopeo reads the OCI layout ferry
 * writes (manifest, config, raw bytes), copies it (which verifies every blob's digest), and
 * podman runs the image (which extracts ferry's tar layers).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBlob } from '../../src/image/json-blob.js';
import { LayerCache } from '../../src/image/layer-cache.js';
import type { LayerEntry } from '../../src/image/layer.js';
import { MediaType } from '../../src/image/media-types.js';
import { OciLayout } from '../../src/image/oci-layout.js';
import { configPlatform, type ImageConfig, type ImageManifest } from '../../src/image/types.js';

const run = promisify(execFile);
const BUSYBOX = '/usr/bin/busybox';
const hasSkopeo = existsSync('/usr/bin/skopeo');
const hasPodman = existsSync('/usr/bin/podman') && existsSync(BUSYBOX);

let root: string;
let layoutDir: string;
let manifest: ImageManifest;
let manifestDigest: string;
let config: ImageConfig;
let configBytes: Buffer;

beforeAll(async () => {
  // Lowercase only: podman names an image pulled from oci:PATH after PATH, and names are lowercase.
  root = join(tmpdir(), `ferry-e2e-image-${randomBytes(6).toString('hex')}`);
  await mkdir(root, { recursive: true });
  const ctx = join(root, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'greeting'), 'hello from a ferry layer\n');
  await writeFile(join(ctx, 'run.sh'), '#!/bin/sh\ncat /etc/greeting\necho "user=$(id -u) cwd=$(pwd) greet=$GREETING"\n');

  const cache = await LayerCache.open(join(root, 'cache'));
  const mtime = 1_700_000_000;
  const applets = ['sh', 'cat', 'echo', 'id', 'pwd'];
  const base: LayerEntry[] = [
    ...(existsSync(BUSYBOX) ? [{ path: 'bin/busybox', type: 'file' as const, mode: 0o755, uid: 0, gid: 0, source: BUSYBOX }] : []),
    ...applets.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'busybox' })),
    { path: 'tmp', type: 'dir', mode: 0o1777, uid: 0, gid: 0 },
  ];
  const app: LayerEntry[] = [
    { path: 'etc/greeting', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(ctx, 'greeting') },
    { path: 'app/run.sh', type: 'file', mode: 0o755, uid: 1000, gid: 1000, source: join(ctx, 'run.sh') },
    { path: 'app', type: 'dir', mode: 0o755, uid: 1000, gid: 1000 },
  ];
  const layers = [await cache.getOrWrite(base, { mtime }), await cache.getOrWrite(app, { mtime })];
  config = {
    created: '2023-11-14T22:13:20Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin', 'GREETING=hi'], Cmd: ['/app/run.sh'], WorkingDir: '/app', User: '1000', Labels: { 'org.example.team': 'data' } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [{ created: '2023-11-14T22:13:20Z', created_by: 'ferry e2e' }, { created: '2023-11-14T22:13:20Z', created_by: 'COPY app' }],
  };
  const cfg = jsonBlob(MediaType.OCI_CONFIG, config);
  configBytes = cfg.bytes;
  manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: cfg.descriptor,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  layoutDir = join(root, 'oci');
  const layout = await OciLayout.create(layoutDir);
  const res = await layout.writeImage({ manifest, config: cfg.bytes, source: cache.blobs, tags: ['v1'], platform: configPlatform(config) });
  manifestDigest = res.descriptor.digest;
});

afterAll(async () => {
  if (podmanConf !== undefined) {
    // podman keeps what it pulled from oci:PATH under the name localhost/PATH.
    await run('podman', ['rmi', '--force', `localhost${layoutDir}`], { env: await podmanEnv() }).catch(() => undefined);
  }
  await rm(root, { recursive: true, force: true });
});

// podman on this machine needs runc, cgroupfs and no default ulimits (see DESIGN.md).
let podmanConf: string | undefined;
async function podmanEnv(): Promise<NodeJS.ProcessEnv> {
  if (podmanConf === undefined) {
    podmanConf = join(root, 'containers.conf');
    await writeFile(podmanConf, '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n');
  }
  return { ...process.env, CONTAINERS_CONF: podmanConf };
}

describe.runIf(hasSkopeo)('skopeo reads the OCI layout ferry writes', () => {
  it('inspect: digest, platform, layers, config', async () => {
    const { stdout } = await run('skopeo', ['inspect', `oci:${layoutDir}:v1`]);
    const info = JSON.parse(stdout) as { Digest: string; Architecture: string; Os: string; Layers: string[]; Env: string[]; Labels: Record<string, string> };
    expect(info.Digest).toBe(manifestDigest);
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Layers).toEqual(manifest.layers.map((l) => l.digest));
    expect(info.Env).toEqual(['PATH=/bin', 'GREETING=hi']);
    expect(info.Labels).toEqual({ 'org.example.team': 'data' });
  });

  it('inspect --config gives back the config ferry wrote, byte for byte', async () => {
    const { stdout } = await run('skopeo', ['inspect', '--config', '--raw', `oci:${layoutDir}:v1`]);
    expect(Buffer.from(stdout).equals(configBytes)).toBe(true);
    const { stdout: parsed } = await run('skopeo', ['inspect', '--config', `oci:${layoutDir}:v1`]);
    expect(JSON.parse(parsed)).toMatchObject({ architecture: 'amd64', os: 'linux', rootfs: { diff_ids: config.rootfs.diff_ids } });
  });

  it('inspect --raw gives the manifest bytes', async () => {
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${layoutDir}:v1`]);
    expect(stdout).toBe((await readFile(join(layoutDir, 'blobs', 'sha256', manifestDigest.slice(7)))).toString());
  });

  it('copy verifies every blob, and ferry reads the layout skopeo writes', async () => {
    const copyDir = join(root, 'copy');
    await run('skopeo', ['copy', '--quiet', `oci:${layoutDir}:v1`, `oci:${copyDir}:copied`]);
    const copy = await OciLayout.open(copyDir);
    const desc = await copy.resolve('copied');
    expect(desc.digest).toBe(manifestDigest);
    const m = await copy.readManifest(desc.digest);
    expect(m.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    expect((await copy.readConfig(m.config.digest)).rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
  });

  it('copy to a dir: transport (which checks diff_ids against the uncompressed layers) succeeds', async () => {
    const out = join(root, 'dir-copy');
    await run('skopeo', ['copy', '--quiet', '--dest-decompress', `oci:${layoutDir}:v1`, `dir:${out}`]);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
  });
});

describe.runIf(hasPodman)('podman runs the image ferry wrote', () => {
  it('extracts the layers with their owners, modes and links, and runs the command', async () => {
    const env = await podmanEnv();
    const { stdout } = await run('podman', ['run', '--rm', `oci:${layoutDir}:v1`], { env, timeout: 120_000 });
    expect(stdout).toBe('hello from a ferry layer\nuser=1000 cwd=/app greet=hi\n');
    const { stdout: ls } = await run('podman', ['run', '--rm', '--user', '0', `oci:${layoutDir}:v1`, '/bin/busybox', 'ls', '-ln', '/app', '/'], { env, timeout: 120_000 });
    expect(ls).toMatch(/-rwxr-xr-x\s+1 1000\s+1000 .* run\.sh/);
    expect(ls).toMatch(/drwxrwxrwt .* tmp/);
  });
});
