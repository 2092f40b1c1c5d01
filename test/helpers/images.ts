/**
 * Base images for tests, made without the internet and independently of ferry's own image code:
 * a busybox-static rootfs packed by the system `tar` and `gzip -n`, hashed by `sha256sum`, the OCI
 * layout JSON written here by hand, and pushed with `skopeo copy`. Also a multi-platform index
 * (the real amd64 image plus a fake arm64 one) for platform-selection tests, and small
 * random-content images for push tests.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rename, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked } from '../../src/infra/process.js';
import { skopeoCreds, type TestRegistry } from './registry.js';
import { pathExists } from '../../src/infra/fs.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const BUSYBOX = '/bin/busybox';

export interface LayoutBlob {
  mediaType: string;
  digest: string;
  size: number;
  /** The file in the layout's blobs/ directory. */
  path: string;
}

export interface LayoutImage {
  platform: { architecture: string; os: string; variant?: string };
  manifest: LayoutBlob & { bytes: Buffer };
  config: LayoutBlob & { bytes: Buffer };
  layers: (LayoutBlob & { diffId: string })[];
}

export interface TestLayout {
  dir: string;
  /** The tag in index.json (org.opencontainers.image.ref.name). */
  tag: string;
  /** What index.json points at: the manifest, or the index for multi-platform layouts. */
  top: LayoutBlob & { bytes: Buffer };
  images: LayoutImage[];
}


/** busybox-static gives a static /bin/busybox; install it when missing (tests run as root in CI). */
export async function ensureBusybox(): Promise<string> {
  if (await pathExists(BUSYBOX)) return BUSYBOX;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<unknown> =>
    runChecked('apt-get', ['install', '-y', '--no-install-recommends', 'busybox-static'], { timeoutMs: 300_000, env });
  try {
    await install();
  } catch {
    // a fresh machine has no package lists yet
    await runChecked('apt-get', ['update'], { timeoutMs: 300_000, env });
    await install();
  }
  if (!(await pathExists(BUSYBOX))) throw new Error('busybox-static is installed but /bin/busybox is missing');
  return BUSYBOX;
}

async function sha256sum(path: string): Promise<string> {
  const r = await runChecked('sha256sum', [path]);
  return `sha256:${r.stdout.split(' ')[0] ?? ''}`;
}

/** Adds a file as a blob of the layout; answers its descriptor. */
async function addBlob(layoutDir: string, file: string, mediaType: string): Promise<LayoutBlob> {
  const digest = await sha256sum(file);
  const dest = join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await rename(file, dest);
  const size = (await stat(dest)).size;
  return { mediaType, digest, size, path: dest };
}

async function addJsonBlob(layoutDir: string, value: unknown, mediaType: string): Promise<LayoutBlob & { bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const tmp = join(layoutDir, `tmp-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, bytes);
  return { ...(await addBlob(layoutDir, tmp, mediaType)), bytes };
}

/** Packs `rootfs` with the system tar (sorted, fixed owner and time) and gzip -n. */
async function packLayer(layoutDir: string, rootfs: string): Promise<LayoutBlob & { diffId: string }> {
  const tarPath = join(layoutDir, `tmp-${randomBytes(6).toString('hex')}.tar`);
  await runChecked('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', tarPath, '.']);
  const diffId = await sha256sum(tarPath);
  await runChecked('gzip', ['-n', tarPath]);
  const blob = await addBlob(layoutDir, `${tarPath}.gz`, OCI_LAYER_GZIP);
  return { ...blob, diffId };
}

async function newLayoutDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-oci-'));
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return dir;
}

async function imageFromLayers(
  layoutDir: string,
  layers: (LayoutBlob & { diffId: string })[],
  platform: LayoutImage['platform'],
  cmd: string[],
  env: string[] = ['PATH=/bin'],
): Promise<LayoutImage> {
  const config = await addJsonBlob(
    layoutDir,
    {
      created: '1970-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: { Env: env, Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'ferry test helper' })),
    },
    OCI_CONFIG,
  );
  const manifest = await addJsonBlob(
    layoutDir,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    },
    OCI_MANIFEST,
  );
  return { platform, manifest, config, layers };
}

async function writeIndexJson(layoutDir: string, top: LayoutBlob, tag: string): Promise<void> {
  await writeFile(
    join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
}

async function busyboxRootfs(): Promise<string> {
  const busybox = await ensureBusybox();
  const rootfs = await mkdtemp(join(tmpdir(), 'ferry-rootfs-'));
  await mkdir(join(rootfs, 'bin'));
  await mkdir(join(rootfs, 'etc'));
  await mkdir(join(rootfs, 'tmp'));
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'echo', 'cat', 'ls', 'env', 'true', 'false', 'sleep', 'id', 'pwd', 'mkdir', 'rm', 'touch', 'wc']) {
    await symlink('busybox', join(rootfs, 'bin', applet));
  }
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return rootfs;
}

export interface BusyboxLayoutOptions {
  /** An index with the real amd64 image and a fake arm64 image (default false). */
  multiPlatform?: boolean;
  tag?: string;
}

/** An OCI layout holding a runnable busybox image (linux/amd64), optionally in a multi-platform index. */
export async function makeBusyboxLayout(opts: BusyboxLayoutOptions = {}): Promise<TestLayout> {
  const dir = await newLayoutDir();
  const tag = opts.tag ?? 'latest';
  const layer = await packLayer(dir, await busyboxRootfs());
  const amd64 = await imageFromLayers(dir, [layer], { architecture: 'amd64', os: 'linux' }, ['sh']);
  if (opts.multiPlatform !== true) {
    await writeIndexJson(dir, amd64.manifest, tag);
    return { dir, tag, top: amd64.manifest, images: [amd64] };
  }
  // The arm64 image is not runnable here; it only has to be a distinct, valid image.
  const fakeRoot = await mkdtemp(join(tmpdir(), 'ferry-rootfs-arm64-'));
  await writeFile(join(fakeRoot, 'platform.txt'), 'linux/arm64/v8 (fake)\n');
  const armLayer = await packLayer(dir, fakeRoot);
  const arm64 = await imageFromLayers(dir, [armLayer], { architecture: 'arm64', os: 'linux', variant: 'v8' }, ['sh']);
  const index = await addJsonBlob(
    dir,
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [amd64, arm64].map((img) => ({
        mediaType: OCI_MANIFEST,
        digest: img.manifest.digest,
        size: img.manifest.size,
        platform: img.platform,
      })),
    },
    OCI_INDEX,
  );
  await writeIndexJson(dir, index, tag);
  return { dir, tag, top: index, images: [amd64, arm64] };
}

/**
 * A `python:3.x`-style base image for engine builds with no internet: busybox for the shell, plus
 * this machine's own Debian python3 (the interpreter, the shared libraries it and its extension
 * modules link, its standard library, and pip), so `RUN pip install -r requirements.txt` and
 * `python pipeline.py` really run. Tests push it under the name the Dockerfile uses and serve it
 * through registries.mirrors.
 */
export async function makePythonLayout(tag = 'latest'): Promise<TestLayout> {
  const rootfs = await busyboxRootfs();
  const version = (await runChecked('/usr/bin/python3', ['-c', 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")'])).stdout.trim();
  const stdlib = `/usr/lib/python${version}`;
  const files = [`/usr/bin/python${version}`, stdlib, '/usr/lib/python3/dist-packages/pip'];
  // The interpreter's and every extension module's shared libraries, with the loader.
  const sos = (await runChecked('find', [`${stdlib}/lib-dynload`, '-name', '*.so'])).stdout.split('\n').filter((l) => l !== '');
  const libs = new Set<string>();
  for (const bin of [`/usr/bin/python${version}`, ...sos]) {
    const out = (await runChecked('ldd', [bin])).stdout;
    for (const m of out.matchAll(/(\/\S+\.so[^\s]*)/g)) if (m[1] !== undefined) libs.add(m[1]);
  }
  // From /, with relative names: coreutils 9.1's `cp -a --parents` fails on absolute sources.
  await runChecked('cp', ['-rL', '--preserve=mode', '--parents', ...[...files, ...libs].map((f) => f.slice(1)), rootfs], { cwd: '/' });
  // Debian marks its python as externally managed (PEP 668); python:3.x images are not.
  for (const junk of [`${stdlib}/EXTERNALLY-MANAGED`, `${stdlib}/test`, `${stdlib}/idlelib`, `${stdlib}/tkinter`, `${stdlib}/ensurepip`, `${stdlib}/lib2to3`]) {
    await runChecked('rm', ['-rf', join(rootfs, junk)]);
  }
  await runChecked('find', [rootfs, '-name', '__pycache__', '-type', 'd', '-prune', '-exec', 'rm', '-rf', '{}', '+']);
  await symlink(`python${version}`, join(rootfs, 'usr', 'bin', 'python3'));
  await symlink(`python${version}`, join(rootfs, 'usr', 'bin', 'python'));
  await writeFile(join(rootfs, 'usr', 'bin', 'pip'), '#!/usr/bin/python3\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n');
  await chmod(join(rootfs, 'usr', 'bin', 'pip'), 0o755);
  await mkdir(join(rootfs, 'root'), { recursive: true });
  const dir = await newLayoutDir();
  const layer = await packLayer(dir, rootfs);
  const img = await imageFromLayers(dir, [layer], { architecture: 'amd64', os: 'linux' }, ['python3'], ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8']);
  await writeIndexJson(dir, img.manifest, tag);
  return { dir, tag, top: img.manifest, images: [img] };
}

/** Makes the python base image (see makePythonLayout) and pushes it to `reg` as `repository:tag`. */
export async function makePythonBaseImage(reg: TestRegistry, repository: string, tag: string): Promise<BaseImage> {
  const layout = await makePythonLayout(tag);
  const digest = await pushLayout(reg, layout, repository, tag);
  return { ref: `${reg.host}/${repository}:${tag}`, repository, tag, digest, layout };
}

/** A small image whose layers hold random bytes (one file per layer), for push tests. */
export async function makeRandomLayout(layerSizes: number[], tag = 'latest'): Promise<TestLayout> {
  const dir = await newLayoutDir();
  const layers: (LayoutBlob & { diffId: string })[] = [];
  for (const [i, size] of layerSizes.entries()) {
    const root = await mkdtemp(join(tmpdir(), 'ferry-rand-'));
    await writeFile(join(root, `data-${i}.bin`), randomBytes(size));
    layers.push(await packLayer(dir, root));
  }
  const img = await imageFromLayers(dir, layers, { architecture: 'amd64', os: 'linux' }, ['sh']);
  await writeIndexJson(dir, img.manifest, tag);
  return { dir, tag, top: img.manifest, images: [img] };
}

/**
 * Pushes a layout to the registry with skopeo; answers the digest skopeo reports for what it
 * pushed (the manifest, or the index with --all).
 */
export async function pushLayout(reg: TestRegistry, layout: TestLayout, repository: string, tag: string): Promise<string> {
  const digestFile = join(layout.dir, `pushed-${randomBytes(4).toString('hex')}.digest`);
  const multi = layout.top.mediaType === OCI_INDEX;
  await runChecked(
    'skopeo',
    [
      'copy',
      ...(multi ? ['--all'] : []),
      '--dest-tls-verify=false',
      ...skopeoCreds(reg, '--dest-creds'),
      '--digestfile',
      digestFile,
      `oci:${layout.dir}:${layout.tag}`,
      `docker://${reg.host}/${repository}:${tag}`,
    ],
    { timeoutMs: 120_000 },
  );
  return (await readFile(digestFile, 'utf8')).trim();
}

export interface BaseImage {
  /** host/repository:tag */
  ref: string;
  repository: string;
  tag: string;
  /** The digest of what the tag points at (manifest, or index when multi-platform). */
  digest: string;
  layout: TestLayout;
}

/** Makes a busybox base image and pushes it to `reg` as `repository:tag`. */
export async function makeBaseImage(reg: TestRegistry, repository: string, tag = 'latest', opts: BusyboxLayoutOptions = {}): Promise<BaseImage> {
  const layout = await makeBusyboxLayout(opts);
  const digest = await pushLayout(reg, layout, repository, tag);
  return { ref: `${reg.host}/${repository}:${tag}`, repository, tag, digest, layout };
}

/**
 * The parts of one layout image in the shape a push takes (manifest bytes, config and layers with
 * the files holding them), without depending on ferry's own types.
 */
export function pushPartsOf(img: LayoutImage): {
  manifest: { bytes: Buffer; mediaType: string };
  config: { descriptor: { mediaType: string; digest: string; size: number }; origin: { kind: 'file'; path: string } };
  layers: { descriptor: { mediaType: string; digest: string; size: number }; origin: { kind: 'file'; path: string } }[];
} {
  const part = (b: LayoutBlob): { descriptor: { mediaType: string; digest: string; size: number }; origin: { kind: 'file'; path: string } } => ({
    descriptor: { mediaType: b.mediaType, digest: b.digest, size: b.size },
    origin: { kind: 'file', path: b.path },
  });
  return { manifest: { bytes: img.manifest.bytes, mediaType: img.manifest.mediaType }, config: part(img.config), layers: img.layers.map(part) };
}
