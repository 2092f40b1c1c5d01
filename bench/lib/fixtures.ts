/**
 * The world a benchmark runs in: a real registry on a free loopback port with a busybox base image
 * (from the test helpers, no internet needed), build contexts written to scratch space, and buildah
 * with its own storage so that its caches are exactly the ones the benchmark means to give it.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeBaseImage, type BaseImage } from '../../test/helpers/images.js';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { log, run, runOk, type Cleanup, type Measured } from './common.js';

export interface World {
  reg: TestRegistry;
  base: BaseImage;
}

/** A registry (stopped and deleted at clean-up) holding a busybox base at library/busybox:1.36. */
export async function startWorld(c: Cleanup): Promise<World> {
  const reg = await startRegistry({ mode: 'open' });
  c.add(() => reg.stop());
  const base = await makeBaseImage(reg, 'library/busybox', '1.36');
  log(`registry at ${reg.host}, base ${base.ref} (${base.digest})`);
  return { reg, base };
}

export interface ContextSpec {
  /** Dockerfile text. */
  dockerfile: string;
  /** image.name in ferry.yaml (the push target); ferry's --image overrides it per run. */
  imageName: string;
  /** The registry host to talk plain HTTP to. */
  insecureHost: string;
}

/** Writes Dockerfile and ferry.yaml into `dir` (made if missing); the caller adds the files. */
export async function writeContext(dir: string, spec: ContextSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Dockerfile'), spec.dockerfile);
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${spec.imageName}\n  context: .\n  dockerfile: Dockerfile\n  tags: [latest]\n` +
      `registries:\n  "${spec.insecureHost}": {insecure: true}\n`,
  );
}

/**
 * buildah with a storage root of its own: `fresh` runs get a new one each time (no layer cache, the
 * base pulled again, as ferry with a new FERRY_CACHE_DIR), cached runs keep one for the benchmark.
 * buildah's blob-info cache (which remembers where a layer was pushed before) lives outside the
 * storage root, so benchmarks that mean "fresh" also use fresh data, which that cache cannot know.
 */
export class Buildah {
  private constructor(private readonly dir: string) {}

  static async create(c: Cleanup, prefix: string): Promise<Buildah> {
    const dir = await c.tempDir(`buildah-${prefix}`);
    const b = new Buildah(dir);
    c.add(() => b.destroy());
    return b;
  }

  private get storage(): string[] {
    return ['--root', path.join(this.dir, 'root'), '--runroot', path.join(this.dir, 'runroot'), '--storage-driver', 'overlay'];
  }

  /** `buildah bud` of a context dir (its Dockerfile), tagged `tag`. */
  bud(contextDir: string, tag: string, opts: { layers: boolean; noCache?: boolean; env?: Record<string, string> }): Promise<Measured> {
    return runOk('buildah', [
      ...this.storage,
      'bud',
      '--isolation',
      'chroot',
      '--tls-verify=false',
      `--layers=${String(opts.layers)}`,
      ...(opts.noCache === true ? ['--no-cache'] : []),
      '--quiet',
      '-f',
      path.join(contextDir, 'Dockerfile'),
      '-t',
      tag,
      contextDir,
    ], opts.env === undefined ? {} : { env: opts.env });
  }

  /** `buildah push` to a registry over plain HTTP (gzip layers, as ferry). */
  push(tag: string, dest: string): Promise<Measured> {
    return runOk('buildah', [...this.storage, 'push', '--tls-verify=false', '--quiet', tag, `docker://${dest}`]);
  }

  /** Storage removed through buildah first: overlay mounts must not be left behind under rm. */
  async destroy(): Promise<void> {
    await run('buildah', [...this.storage, 'rm', '--all']);
    await run('buildah', [...this.storage, 'rmi', '--all', '--force']);
    await run('umount', ['--recursive', '--quiet', path.join(this.dir, 'root', 'overlay')]);
    await rm(this.dir, { recursive: true, force: true });
  }
}
