import { chmod, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, ferry, REPO_ROOT } from '../helpers/cli.js';
import { makePythonBaseImage } from '../helpers/images.js';
import { podmanEnv, podmanRun } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * Hybrid builds: the data-pipeline example's prefix (up to its last RUN) is built once by an
 * engine; after a code-only edit, the rebuild runs no engine at all (PATH holds only tripwire
 * programs named docker, podman and buildah that record any call) and uploads one layer. This
 * holds on a "fresh runner" too: an empty ferry cache and no engine, the prefix found in the
 * registry.
 */
let reg: TestRegistry;
let work: string;
let baseEnv: Record<string, string>;
let tripwire: string;

interface PushJson {
  image: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
  layers: { digest: string; source: string; reused: boolean; createdBy: string }[];
  prefix?: { key: string; line: number; source: string; tag?: string };
}

const env = (cache: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ...baseEnv,
  FERRY_CACHE_DIR: path.join(work, cache),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  DOCKER_HOST: `unix://${path.join(work, 'no-docker.sock')}`,
  BUILDAH_ISOLATION: 'chroot',
  ...extra,
});

/** A PATH where every engine is a program that only records that it was started. */
const noEngines = (cache: string): Record<string, string> => env(cache, { PATH: tripwire });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hybrid-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  await writeFile(path.join(work, 'no-auth.json'), '{}');
  baseEnv = await podmanEnv();
  tripwire = path.join(work, 'tripwire-bin');
  await mkdir(tripwire);
  for (const name of ['docker', 'podman', 'buildah']) {
    await writeFile(path.join(tripwire, name), `#!/bin/sh\necho "${name} $*" >> ${path.join(work, 'engine-calls.log')}\nexit 1\n`);
    await chmod(path.join(tripwire, name), 0o755);
  }
  reg = await startRegistry({ mode: 'open' });
  await makePythonBaseImage(reg, 'mirror/library/python', '3.11-slim');
}, 180_000);

afterAll(async () => {
  await reg.stop();
});

describe('hybrid builds', () => {
  it('builds the prefix with an engine once; a code-only edit rebuilds with no engine and uploads one layer, on a fresh runner too', async () => {
    const dir = await mkdtemp(path.join(work, 'proj-'));
    await cp(path.join(REPO_ROOT, 'examples', 'data-pipeline'), dir, { recursive: true });
    await writeFile(
      path.join(dir, 'ferry.yaml'),
      `apiVersion: ferry/v1\nimage:\n  name: ${reg.host}/team/hybrid\nregistries:\n  mirrors:\n    docker.io: ${reg.host}/mirror\n  "${reg.host}": {insecure: true}\n`,
    );

    // 1. First push: the prefix is built by an engine (podman: no Docker API here), the rest natively.
    const first = await ferry(['push', '--json'], { cwd: dir, env: env('cache-a'), timeoutMs: 300_000 });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const a = envelope<PushJson>(first).result;
    expect(a?.prefix).toMatchObject({ source: 'podman', line: 6, tag: `${reg.host}/team/hybrid:ferry-prefix-${a?.prefix?.key ?? ''}` });
    expect((await podmanRun(a?.image ?? '')).stdout).toContain('3 trips in data/trips.csv');

    // 2. Edit one line of pipeline.py. A fresh runner: empty cache, no engine. The prefix comes from the registry.
    const code = path.join(dir, 'pipeline.py');
    await writeFile(code, (await readFile(code, 'utf8')).replace('trips in {path}', 'trips (edited) in {path}'));
    const second = await ferry(['push', '--json'], { cwd: dir, env: noEngines('cache-fresh'), timeoutMs: 300_000 });
    expect(second.code, second.stderr + second.stdout).toBe(0);
    const b = envelope<PushJson>(second).result;
    expect(b?.prefix).toMatchObject({ key: a?.prefix?.key, source: 'registry' });
    expect(existsSync(path.join(work, 'engine-calls.log')), 'an engine was started').toBe(false);
    // Exactly one layer uploaded (the pipeline.py COPY), plus the new config blob.
    expect(b?.blobs.uploaded).toBe(2);
    const changed = b?.layers.filter((l, i) => l.digest !== a?.layers[i]?.digest) ?? [];
    expect(changed).toHaveLength(1);
    expect(changed[0]?.createdBy).toContain('COPY pipeline.py');
    const run = await podmanRun(b?.image ?? '', [], { env: { EXIT_CODE: '3' } });
    expect(run.stdout).toContain('3 trips (edited) in data/trips.csv');
    expect(run.code).toBe(3);

    // 3. The first runner, after another edit, engines hidden: the prefix is in its own cache.
    await writeFile(code, (await readFile(code, 'utf8')).replace('(edited)', '(edited twice)'));
    const third = await ferry(['push', '--json'], { cwd: dir, env: noEngines('cache-a'), timeoutMs: 300_000 });
    expect(third.code, third.stderr + third.stdout).toBe(0);
    const c = envelope<PushJson & { digest: string }>(third).result;
    expect(c?.prefix?.source).toBe('cache');
    expect(existsSync(path.join(work, 'engine-calls.log')), 'an engine was started').toBe(false);
    // The same content from a fresh runner (prefix from the registry) is the same image, byte for byte.
    const again = await ferry(['push', '--json'], { cwd: dir, env: noEngines('cache-fresh-2'), timeoutMs: 300_000 });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const d = envelope<PushJson & { digest: string }>(again).result;
    expect(d?.prefix?.source).toBe('registry');
    expect(d?.digest).toBe(c?.digest);
    expect(d?.layers.map((l) => [l.source, l.createdBy])).toEqual(c?.layers.map((l) => [l.source, l.createdBy]));

    // 4. Changing what the prefix reads (requirements.txt) needs the engine again: here, none is usable.
    await writeFile(path.join(dir, 'requirements.txt'), '# no packages, but a different file\n');
    const fourth = await ferry(['push', '--json'], { cwd: dir, env: env('cache-fresh', { PATH: '/nonexistent' }), timeoutMs: 300_000 });
    expect(fourth.code).toBe(69);
    expect(envelope(fourth).error?.code).toBe('ENGINE_NOT_FOUND');
  }, 600_000);

  it('ferry run builds the data-pipeline example with auto and runs it locally: its output, and its exit code as ferry\'s', async () => {
    const dir = await mkdtemp(path.join(work, 'proj-run-'));
    await cp(path.join(REPO_ROOT, 'examples', 'data-pipeline'), dir, { recursive: true });
    await writeFile(
      path.join(dir, 'ferry.yaml'),
      `apiVersion: ferry/v1\nimage:\n  name: ${reg.host}/team/run\nregistries:\n  mirrors:\n    docker.io: ${reg.host}/mirror\n  "${reg.host}": {insecure: true}\n`,
    );
    const ok = await ferry(['run', '--engine', 'podman'], { cwd: dir, env: env('cache-run'), timeoutMs: 300_000 });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('3 trips in data/trips.csv, median distance 3.2 km');
    const failing = await ferry(['run', '--json', '--engine', 'podman', '-e', 'EXIT_CODE=3', '--', 'data/trips.csv'], { cwd: dir, env: env('cache-run'), timeoutMs: 300_000 });
    expect(failing.code, failing.stderr).toBe(3);
    const res = envelope<{ exitCode: number; engine: string; loaded: boolean }>(failing);
    expect(res.result).toMatchObject({ exitCode: 3, engine: 'podman', loaded: false });
    expect(failing.stderr).toContain('3 trips in data/trips.csv');
  }, 400_000);
});

